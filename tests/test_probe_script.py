"""Zero-config probe: `nnlint --probe train.py [-- args]` on unmodified training scripts
(fixtures/probe/scripts/), run in a copy so that any write the probe let through shows."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, nnlint_command

SCRIPTS = ROOT / "fixtures" / "probe" / "scripts"
needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def run_script(tmp_path: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """Probe a copy of the scripts folder; assert the probe wrote nothing there."""
    work = tmp_path / "scripts"
    shutil.copytree(SCRIPTS, work)
    before = _files(work)
    result = subprocess.run(
        [*nnlint_command(), "--probe", *args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert _files(work) == before, "the probe changed files next to the script"
    return result


def _codes(stdout: str) -> set[str]:
    return {line.split()[1] for line in stdout.splitlines() if ": NN9" in line}


def test_script_targets_are_told_apart_from_factories() -> None:
    from nnlint.probe.script import is_script  # noqa: PLC0415 - imports torch

    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    assert is_script(str(SCRIPTS / "clean_loop.py"))
    assert not is_script(f"{SCRIPTS / 'clean_loop.py'}:main")
    assert not is_script(str(ROOT / "fixtures" / "probe" / "clean_lightning.py"))
    assert not is_script("pkg.module:make_probe")


@needs_torch
def test_clean_loop_with_arguments_is_clean_and_its_checkpoint_is_skipped(tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = run_script(
        tmp_path, "clean_loop.py", "--probe-report", str(report), "--", "--out", "ck.pt"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _codes(result.stdout)
    assert "skipped a write of the script: clean_loop.py:23: torch.save(..., 'ck.pt')" in (
        result.stderr
    )
    document = (report / "probe.json").read_text("utf-8")
    assert "ck.pt" in document and '"status": "done"' in document


@needs_torch
def test_script_arguments_reach_the_script(tmp_path: Path) -> None:
    result = run_script(tmp_path, "clean_loop.py", "--", "--no-such-option")
    assert result.returncode == 2
    assert "exited with code 2 without a training step" in result.stderr
    assert "unrecognized arguments: --no-such-option" not in result.stdout


@needs_torch
def test_functional_summed_loss_through_the_loop_matches_its_factory_twin(
    tmp_path: Path,
) -> None:
    result = run_script(tmp_path, "broken_summed_loss.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert _codes(result.stdout) == {"NN902"}  # as fixtures/probe/broken_summed_loss.py
    assert result.stdout.startswith("broken_summed_loss.py:18:1: NN902")  # the backward line


@needs_torch
def test_script_without_a_training_step_cannot_be_probed(tmp_path: Path) -> None:
    result = run_script(tmp_path, "no_training.py")
    assert result.returncode == 2
    assert "the script finished without a training step" in result.stderr


@needs_torch
def test_a_script_that_never_reaches_a_step_says_where_it_was(tmp_path: Path) -> None:
    result = run_script(tmp_path, "stalled_preprocessing.py", "--probe-timeout", "6")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.startswith("stalled_preprocessing.py:11:1: NN900 the script reached no")
    assert "preprocess (stalled_preprocessing.py:11) <- main" in result.stdout
