"""`--fix` writes respect the file system: BOMs, symlinks, read-only and special files,
files edited meanwhile, folders it cannot write."""

from __future__ import annotations

import codecs
import os
import shutil
from pathlib import Path

import pytest

from nnlint import fixes
from nnlint.cache import digest
from nnlint.cli import main
from nnlint.findings import Finding
from nnlint.fixes import apply_fixes

PAIRS = Path(__file__).parent / "data" / "fixes"
SOURCE = (PAIRS / "softmax_and_shuffle.in.py").read_text("utf-8")
SHUFFLE = Finding("train.py", 25, 15, "NN202", "training DataLoader does not shuffle")


def _finding(path: Path) -> Finding:
    return Finding(str(path), SHUFFLE.line, SHUFFLE.col, SHUFFLE.code, SHUFFLE.message)


def _fix(path: Path, **options: object) -> fixes.FixOutcome:
    return apply_fixes([_finding(path)], unsafe=False, write=True, **options)


def test_a_bom_is_kept(tmp_path: Path) -> None:
    target = tmp_path / "train.py"
    target.write_bytes(codecs.BOM_UTF8 + SOURCE.encode())
    outcome = _fix(target)
    assert outcome.applied == 1
    fixed = target.read_bytes()
    assert fixed.startswith(codecs.BOM_UTF8)
    assert not fixed[3:].startswith(codecs.BOM_UTF8)
    assert b"shuffle=True" in fixed


def test_a_symlink_stays_a_link_and_its_target_is_fixed(tmp_path: Path) -> None:
    real = tmp_path / "real" / "train.py"
    real.parent.mkdir()
    real.write_text(SOURCE, encoding="utf-8")
    link = tmp_path / "train.py"
    link.symlink_to(real)
    outcome = _fix(link)
    assert outcome.applied == 1
    assert link.is_symlink()
    assert "shuffle=True" in real.read_text("utf-8")
    assert sorted(os.listdir(real.parent)) == ["train.py"]


def test_a_read_only_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "train.py"
    target.write_text(SOURCE, encoding="utf-8")
    target.chmod(0o444)
    outcome = _fix(target)
    assert target.read_text("utf-8") == SOURCE
    assert outcome.applied == 0
    assert outcome.problems == [f"{target}: not fixed: the file is read-only"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "train.py"
    os.mkfifo(fifo)
    for write in (True, False):
        outcome = apply_fixes([_finding(fifo)], unsafe=False, write=write)
        assert outcome.applied == 0
        assert "is not a regular file" in outcome.problems[0]


def test_a_file_edited_since_the_lint_is_skipped(tmp_path: Path) -> None:
    target = tmp_path / "train.py"
    target.write_text(SOURCE, encoding="utf-8")
    linted = digest(SOURCE)
    edited = "# a new first line\n" + SOURCE
    target.write_text(edited, encoding="utf-8")
    outcome = _fix(target, digests={str(target): linted})
    assert target.read_text("utf-8") == edited
    assert outcome.problems == [f"{target}: not fixed: it changed since it was linted"]


def test_a_file_edited_while_the_fix_is_written_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "train.py"
    target.write_text(SOURCE, encoding="utf-8")
    edited = SOURCE + "print('new code')\n"
    chmod = os.chmod

    def edit_meanwhile(path: str, mode: int) -> None:
        target.write_text(edited, encoding="utf-8")
        chmod(path, mode)

    monkeypatch.setattr(fixes.os, "chmod", edit_meanwhile)
    outcome = _fix(target)
    assert target.read_text("utf-8") == edited
    assert outcome.applied == 0
    assert "changed while the fix was being written" in outcome.problems[0]
    assert os.listdir(tmp_path) == ["train.py"]


def test_an_unwritable_folder_is_a_clear_error_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Root may write in a 0555 folder, so the refusal the kernel gives users is simulated."""
    shutil.copy(PAIRS / "softmax_and_shuffle.in.py", tmp_path / "train.py")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")

    def refused(*_: object, **__: object) -> None:
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(fixes.tempfile, "mkstemp", refused)
    monkeypatch.chdir(tmp_path)
    code = main(["--fix", "--no-cache", "train.py"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"train.py: not fixed: cannot write ({tmp_path}): Permission denied" in err
    assert "Traceback" not in err
    assert (tmp_path / "train.py").read_text("utf-8") == SOURCE
