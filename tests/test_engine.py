"""The run itself: cache, parallel jobs, cross-module groups, pre-filter, notebooks,
baselines, standard input and excludes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nnlint import cli, engine
from nnlint.cache import RACY_NS
from nnlint.config import Settings
from nnlint.discover import discover
from nnlint.engine import lint
from nnlint.rules import Rule, all_rules
from tests.conftest import nnlint_command
from tests.fixture_expectations import FIXTURES
from tests.test_cli import BAD, GOOD, codes, run, write

MODELS = """\
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        return F.softmax(self.fc(x), dim=1)
"""
TRAIN = """\
import torch.nn as nn
from models import Net

model = Net()
criterion = nn.CrossEntropyLoss()
loss = criterion(model(x), y)
"""


def _lint(folder: Path, **options: object) -> list[tuple[str, int, str]]:
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        report = lint([Path(".")], Settings(root=folder, respect_gitignore=False), **options)
    finally:
        os.chdir(cwd)
    assert not report.errors
    return [(Path(f.path).as_posix(), f.line, f.code) for f in report.findings]


def _age(folder: Path) -> None:
    """Make every file older than the racy window, as if edited a while ago."""
    old = os.stat(folder).st_mtime_ns - 2 * RACY_NS
    for path in folder.rglob("*.py"):
        os.utime(path, ns=(old, old))


def test_cross_module_pairing_is_found_in_a_group_pass(tmp_path: Path) -> None:
    write(tmp_path, {"models.py": MODELS, "train.py": TRAIN})
    assert _lint(tmp_path) == [("models.py", 11, "NN102")]


def test_warm_cache_gives_the_same_findings_without_reading_files(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = tmp_path_factory.mktemp("project")
    write(tmp_path, {"models.py": MODELS, "train.py": TRAIN, "bad.py": BAD})
    _age(tmp_path)
    cache = tmp_path_factory.mktemp("cache")
    cold = _lint(tmp_path, cache_dir=cache)
    reads: list[Path] = []
    original = engine.read_text
    monkeypatch.setattr(engine, "read_text", lambda p: reads.append(p) or original(p))
    monkeypatch.setattr(engine, "read_source", lambda *a: pytest.fail("parsed again"))
    assert _lint(tmp_path, cache_dir=cache) == cold
    assert reads == []


def test_cache_notices_an_edit(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    cache = tmp_path / "cache"
    assert [c for _, _, c in _lint(tmp_path, cache_dir=cache)] == ["NN101"]
    (tmp_path / "bad.py").write_text(GOOD, encoding="utf-8")
    assert _lint(tmp_path, cache_dir=cache) == []


def test_editing_the_model_module_updates_the_cross_module_finding(tmp_path: Path) -> None:
    write(tmp_path, {"models.py": MODELS, "train.py": TRAIN})
    _age(tmp_path)
    cache = tmp_path / "cache"
    assert _lint(tmp_path, cache_dir=cache) == [("models.py", 11, "NN102")]
    fixed = MODELS.replace("return F.softmax(self.fc(x), dim=1)", "return self.fc(x)")
    (tmp_path / "models.py").write_text(fixed, encoding="utf-8")
    assert _lint(tmp_path, cache_dir=cache) == []


def test_a_corrupt_cache_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    cache = tmp_path / "cache"
    _lint(tmp_path, cache_dir=cache)
    for file in cache.glob("*.json"):
        file.write_text("{not json", encoding="utf-8")
    assert [c for _, _, c in _lint(tmp_path, cache_dir=cache)] == ["NN101"]
    assert not list(cache.glob("*.tmp"))


def test_jobs_do_not_change_the_findings(tmp_path: Path) -> None:
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy)
    assert _lint(copy, jobs=2) == _lint(copy, jobs=1)


def test_files_without_ml_imports_are_skipped_in_folders_but_not_when_named(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"notes.py": "def f(:\n", "bad.py": BAD})
    assert codes(run(tmp_path, ".").stdout) == [("bad.py", "NN101")]
    assert codes(run(tmp_path, "notes.py").stdout) == [("notes.py", "NN000")]


def _notebook(cells: list[tuple[str, str]]) -> str:
    return json.dumps(
        {
            "cells": [{"cell_type": kind, "metadata": {}, "source": text} for kind, text in cells],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_notebook_findings_name_the_cell(tmp_path: Path) -> None:
    notebook = _notebook(
        [
            ("markdown", "# Training"),
            ("code", "%matplotlib inline\n!pip install torch\nimport torch.nn as nn\n"),
            ("code", BAD.split("\n", 2)[2]),
            ("code", "%%bash\necho done\n"),
        ]
    )
    write(tmp_path, {"train.ipynb": notebook})
    result = run(tmp_path, "train.ipynb")
    assert result.stdout.startswith("train.ipynb:cell 3:3:5: NN101 "), result.stdout


def test_notebook_shell_escape_as_a_block_body_still_parses(tmp_path: Path) -> None:
    setup = (
        "import importlib.util\nimport torch.nn as nn\n"
        "if importlib.util.find_spec('torch') is None:\n    !pip install torch\n"
    )
    notebook = _notebook([("code", setup), ("code", BAD.split("\n", 2)[2])])
    write(tmp_path, {"train.ipynb": notebook})
    result = run(tmp_path, "train.ipynb")
    assert result.stdout.startswith("train.ipynb:cell 2:3:5: NN101 "), result.stdout


def test_notebook_state_flows_across_cells(tmp_path: Path) -> None:
    cells = [
        ("code", "import torch\nimport torch.nn as nn\ntorch.manual_seed(0)\n"),
        (
            "code",
            "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(1))\n",
        ),
        ("markdown", "## Training"),
        (
            "code",
            "criterion = nn.CrossEntropyLoss()\n"
            "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        ),
        (
            "code",
            "x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))\nfor step in range(100):\n"
            "    opt.zero_grad()\n    criterion(model(x), y).backward()\n    opt.step()\n",
        ),
    ]
    write(tmp_path, {"train.ipynb": _notebook(cells)})
    result = run(tmp_path, "--select", "NN102", "train.ipynb")
    assert result.stdout.startswith("train.ipynb:cell 2:1:"), result.stdout


def test_a_broken_notebook_is_nn000(tmp_path: Path) -> None:
    write(tmp_path, {"broken.ipynb": "{}"})
    assert codes(run(tmp_path, "broken.ipynb").stdout) == [("broken.ipynb", "NN000")]


def test_baseline_hides_old_findings_after_lines_move(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    assert run(tmp_path, "--write-baseline", "baseline.json", ".").returncode == 0
    moved = "# a new comment\n\n" + BAD
    (tmp_path / "bad.py").write_text(moved, encoding="utf-8")
    result = run(tmp_path, "--baseline", "baseline.json", ".")
    assert (result.returncode, result.stdout) == (0, "")
    worse = moved + "\nother = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1))\n"
    (tmp_path / "bad.py").write_text(worse, encoding="utf-8")
    result = run(tmp_path, "--baseline", "baseline.json", ".")
    assert result.returncode == 1
    assert [line.split(":")[1] for line in result.stdout.splitlines()] == ["11"]


def test_an_unreadable_baseline_exits_2(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD, "baseline.json": "[]"})
    result = run(tmp_path, "--baseline", "baseline.json", ".")
    assert result.returncode == 2
    assert "cannot read baseline" in result.stderr


def test_stdin_filename(tmp_path: Path) -> None:
    write(tmp_path, {})
    result = subprocess.run(
        [*nnlint_command(), "--stdin-filename", "pkg/train.py"],
        cwd=tmp_path,
        input=BAD,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.startswith("pkg/train.py:5:5: NN101 ")


def test_force_exclude_applies_to_named_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pyproject.toml": "[tool.nnlint]\nextend-exclude = ['generated']\n",
            "generated/bad.py": BAD,
        },
    )
    assert run(tmp_path, "generated/bad.py").returncode == 1
    assert run(tmp_path, "--force-exclude", "generated/bad.py").returncode == 0


def test_show_settings(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": "[tool.nnlint]\nignore = ['NN3']\n"})
    result = run(tmp_path, "--show-settings", "--jobs", "3", "--no-cache")
    shown = json.loads(result.stdout)
    assert shown["ignore"] == ["NN3"]
    assert shown["jobs"] == 3
    assert shown["cache-dir"] is None
    assert "NN301" not in shown["rules"]


def test_columns_count_characters_not_bytes(tmp_path: Path) -> None:
    name = "\u043c\u043e\u0434\u0435\u043b\u044c"  # a Cyrillic identifier, 6 characters
    model = "nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))"
    source = f"import torch.nn as nn\n{name} = {model}\n"
    write(tmp_path, {"train.py": source})
    line = run(tmp_path, "train.py").stdout
    assert line.startswith("train.py:2:41: NN101 "), line


def test_newer_python_syntax_is_a_note_not_a_syntax_error(tmp_path: Path) -> None:
    newer = "import torch\n\ntype Pair[T] = tuple[T, T]\n"
    write(tmp_path, {"typed.py": newer, "bad.py": BAD})
    result = run(tmp_path, ".")
    if result.stdout.count("NN000"):
        pytest.fail(result.stdout)
    if "typed.py" in result.stderr:  # only on a Python older than the syntax
        assert "uses syntax newer than Python" in result.stderr
    assert codes(result.stdout) == [("bad.py", "NN101")]


def test_python2_code_is_a_syntax_error(tmp_path: Path) -> None:
    write(tmp_path, {"old.py": "import torch\nprint 'epoch', 1\n"})
    assert codes(run(tmp_path, "old.py").stdout) == [("old.py", "NN000")]


def test_huge_files_are_skipped_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, {"bad.py": BAD})
    monkeypatch.setattr(engine, "MAX_FILE_BYTES", 10)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        report = lint([Path(".")], Settings(root=tmp_path))
    finally:
        os.chdir(cwd)
    assert report.findings == []
    assert any("over the" in note for note in report.notes)


def test_unreadable_folders_are_reported(tmp_path: Path) -> None:
    problems: list[str] = []
    found = list(discover([tmp_path / "vanished"], Settings(root=tmp_path), problems))
    assert found == []
    assert problems and "cannot read folder" in problems[0]


def test_broken_symlinks_and_symlink_loops(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    (tmp_path / "ghost.py").symlink_to(tmp_path / "nowhere.py")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    result = run(tmp_path, "--no-respect-gitignore", ".")
    assert result.returncode == 1
    assert codes(result.stdout) == [("bad.py", "NN101")]
    assert "ghost.py: cannot read" in result.stderr


def _exploding_rule() -> Rule:
    def check(project):
        for module in project.modules:
            if "boom" in module.source.text:
                raise ValueError("kaboom")
        return iter(())

    return Rule("NN199", "explodes", "warning", "Fails on purpose.", "", check)


def test_an_internal_error_is_a_finding_on_the_failing_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, {"bad.py": BAD, "boom.py": "import torch  # boom\n"})
    monkeypatch.setattr(engine, "all_rules", lambda: (*all_rules(), _exploding_rule()))
    monkeypatch.chdir(tmp_path)
    assert cli.main([".", "--no-cache"]) == 2
    out, err = capsys.readouterr()
    assert [line.split(": ")[1].split()[0] for line in out.splitlines()] == ["NN101", "NN002"]
    assert "boom.py:1:1: NN002 internal error in NN199 (explodes): ValueError: kaboom" in out
    assert "Traceback" not in err
    assert cli.main([".", "--no-cache", "--verbose"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_paths_with_spaces_and_non_ascii_names(tmp_path: Path) -> None:
    folder = "d\u00e9j\u00e0 vu"
    write(tmp_path, {f"{folder}/train model.py": BAD})
    result = run(tmp_path, ".")
    assert codes(result.stdout) == [(f"{folder}/train model.py", "NN101")]


def test_bom_crlf_tabs_form_feeds_and_declared_encodings(tmp_path: Path) -> None:
    write(tmp_path, {})
    crlf = ("\ufeff" + BAD).replace("\n", "\r\n").replace("    ", "\t").encode("utf-8")
    (tmp_path / "crlf.py").write_bytes(crlf.replace(b"\r\nmodel", b"\r\n\x0cmodel"))
    latin = b"# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD.encode()
    (tmp_path / "latin.py").write_bytes(latin)
    (tmp_path / "empty.py").write_bytes(b"")
    (tmp_path / "binary.py").write_bytes(b"import torch\n\x00\x01\x02")
    result = run(tmp_path, "crlf.py", "latin.py", "empty.py", "binary.py")
    assert codes(result.stdout) == [
        ("binary.py", "NN000"),
        ("crlf.py", "NN101"),
        ("latin.py", "NN101"),
    ]


def test_deeply_nested_code_is_reported_not_a_crash(tmp_path: Path) -> None:
    too_deep = "import torch\nx = " + "(" * 300 + "1" + ")" * 300 + "\n"
    long_chain = "import torch\nx = " + " + ".join(["1"] * 20000) + "\n"
    undecodable = b"import torch\n# \xff\xfe not UTF-8\nx = 1\n"
    write(tmp_path, {"deep.py": too_deep, "chain.py": long_chain})
    (tmp_path / "bytes.py").write_bytes(undecodable)
    result = run(tmp_path, "deep.py", "chain.py", "bytes.py")
    assert result.returncode in {0, 1}, result.stderr
    assert "Traceback" not in result.stderr
    assert ("deep.py", "NN000") in codes(result.stdout)


HEAD = """\
import torch
from torch import nn


class ClassificationHead(nn.Module):
    def __init__(self, hidden, labels):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, labels)

    def forward(self, x):
        return self.out(torch.tanh(self.dense(x)))
"""
ENCODER = """\
from torch import nn
from head import ClassificationHead


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(64, 4, batch_first=True)
        self.head = ClassificationHead(64, 2)

    def forward(self, x):
        return self.head(self.attn(x, x, x)[0][:, 0])
"""


def test_a_module_using_another_can_remove_its_findings(tmp_path: Path) -> None:
    """head.py alone has a tanh MLP (NN101); encoder.py uses it inside an attention network,
    which makes the tanh part of the design. The result must not depend on grouping."""
    write(tmp_path, {"head.py": HEAD})
    assert [c for _, _, c in _lint(tmp_path)] == ["NN101"]
    write(tmp_path, {"encoder.py": ENCODER})
    assert _lint(tmp_path) == []
    assert _lint(tmp_path, jobs=2) == []
