"""`[tool.nnlint]` in pyproject.toml: honoured when valid, exit 2 with a clear message when not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import BAD, BROKEN, GOOD, codes, run


def project(folder: Path, config: str, files: dict[str, str]) -> Path:
    for name, text in {"pyproject.toml": config, **files}.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("", {"NN000", "NN101"}),
        ('select = ["NN0"]', {"NN000"}),
        ('select = ["NN101"]', {"NN101"}),
        ('select = ["NN2"]\nextend-select = ["NN1"]', {"NN101"}),
        ('ignore = ["NN1"]', {"NN000"}),
        ('ignore = ["NN000", "NN101"]', set()),
    ],
)
def test_select_and_ignore(tmp_path: Path, config: str, expected: set[str]) -> None:
    project(tmp_path, f"[tool.nnlint]\n{config}\n", {"bad.py": BAD, "broken.py": BROKEN})
    result = run(tmp_path, ".")
    assert {code for _, code in codes(result.stdout)} == expected
    assert result.returncode == (1 if expected else 0), result.stderr


def test_command_line_select_replaces_config_select(tmp_path: Path) -> None:
    project(tmp_path, '[tool.nnlint]\nselect = ["NN0"]\n', {"bad.py": BAD})
    assert run(tmp_path, "bad.py").returncode == 0
    result = run(tmp_path, "--select", "NN1", "bad.py")
    assert codes(result.stdout) == [("bad.py", "NN101")]


def test_per_file_ignores(tmp_path: Path) -> None:
    config = '[tool.nnlint.per-file-ignores]\n"legacy/*.py" = ["NN1"]\n"broken.py" = ["NN000"]\n'
    files = {"legacy/old.py": BAD, "src/new.py": BAD, "broken.py": BROKEN}
    project(tmp_path, config, files)
    result = run(tmp_path, ".")
    assert codes(result.stdout) == [("src/new.py", "NN101")]
    assert result.returncode == 1


def test_per_file_ignores_are_relative_to_the_pyproject(tmp_path: Path) -> None:
    config = '[tool.nnlint.per-file-ignores]\n"legacy/*.py" = ["NN101"]\n'
    project(tmp_path, config, {"legacy/old.py": BAD})
    result = run(tmp_path / "legacy", "old.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_extend_exclude(tmp_path: Path) -> None:
    config = '[tool.nnlint]\nextend-exclude = ["generated"]\n'
    project(tmp_path, config, {"generated/model.py": BAD, "train.py": BAD, ".venv/x.py": BAD})
    assert codes(run(tmp_path, ".").stdout) == [("train.py", "NN101")]


def test_exclude_replaces_the_defaults(tmp_path: Path) -> None:
    config = '[tool.nnlint]\nexclude = ["generated"]\n'
    project(tmp_path, config, {"generated/model.py": BAD, "train.py": BAD, ".venv/x.py": BAD})
    assert codes(run(tmp_path, ".").stdout) == [(".venv/x.py", "NN101"), ("train.py", "NN101")]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_respect_gitignore_false(tmp_path: Path) -> None:
    files = {".gitignore": "generated/\n", "generated/model.py": BAD, "train.py": GOOD}
    project(tmp_path, "[tool.nnlint]\nrespect-gitignore = false\n", files)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert codes(run(tmp_path, ".").stdout) == [("generated/model.py", "NN101")]


def test_explicit_config_option(tmp_path: Path) -> None:
    project(tmp_path, "[project]\nname = 'demo'\n", {"bad.py": BAD})
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "nnlint.toml").write_text('[tool.nnlint]\nignore = ["NN101"]\n')
    assert run(tmp_path, "bad.py").returncode == 1
    assert run(tmp_path, "--config", "ci/nnlint.toml", "bad.py").returncode == 0


def test_unknown_key_exits_2_with_did_you_mean(tmp_path: Path) -> None:
    project(tmp_path, '[tool.nnlint]\nselct = ["NN1"]\n', {"bad.py": BAD})
    result = run(tmp_path, "bad.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "pyproject.toml:2: $.tool.nnlint.selct: unknown key; did you mean `select`?"
        in result.stderr
    )


def test_unknown_key_without_a_close_match_lists_the_known_keys(tmp_path: Path) -> None:
    project(tmp_path, "[tool.nnlint]\nfrobnicate = true\n", {"bad.py": BAD})
    result = run(tmp_path, "bad.py")
    assert result.returncode == 2
    assert "$.tool.nnlint.frobnicate: unknown key; known keys: " in result.stderr
    assert "per-file-ignores" in result.stderr


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ('select = "NN1"', ":2: $.tool.nnlint.select: expected a list, got a string"),
        (
            'ignore = ["E501"]',
            ":2: $.tool.nnlint.ignore[0]: unknown rule selector `E501`; did you mean `NN501`?",
        ),
        (
            'ignore = ["NN2",\n  "NN99X"]',
            ":3: $.tool.nnlint.ignore[1]: unknown rule selector `NN99X`; did you mean `NN909`?",
        ),
        ('select = ["NN999"]', ":2: $.tool.nnlint.select[0]: unknown rule selector `NN999`"),
        ('extend-select = ["NN8"]', ":2: $.tool.nnlint.extend-select[0]: unknown rule selector"),
        ("respect-gitignore = 1", ":2: $.tool.nnlint.respect-gitignore: expected true or false"),
        (
            '[tool.nnlint.per-file-ignores]\n"a.py" = "NN1"',
            ":3: $.tool.nnlint.per-file-ignores.a.py: expected a list",
        ),
        (
            '[tool.nnlint.per-file-ignores]\n"a.py" = ["NN1"]\n"b.py" = ["NN1", "NN777"]',
            ":4: $.tool.nnlint.per-file-ignores.b.py[1]: unknown rule selector `NN777`",
        ),
        (
            "[tool.nnlint.probe]\ntimeout = 0",
            ":3: $.tool.nnlint.probe.timeout: expected a value more than 0, got 0",
        ),
        (
            '[tool.nnlint.probe]\ndevice = "gpu"',
            ':3: $.tool.nnlint.probe.device: expected one of auto, cpu, cuda, got a string ("gpu")',
        ),
    ],
)
def test_wrong_value_exits_2_with_line_path_and_sentence(
    tmp_path: Path, config: str, where: str
) -> None:
    """Every config error names the file's line and the key's JSON path in a plain sentence,
    never jsonschema's own text; an unknown rule selector is an error, not a silent no-op."""
    project(tmp_path, f"[tool.nnlint]\n{config}\n", {"bad.py": BAD})
    result = run(tmp_path, "bad.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"nnlint: error: pyproject.toml{where}" in result.stderr
    assert "does not match" not in result.stderr
    assert "is not of type" not in result.stderr


def test_malformed_toml_exits_2(tmp_path: Path) -> None:
    project(tmp_path, '[tool.nnlint\nselect = ["NN1"]\n', {"bad.py": BAD})
    result = run(tmp_path, "bad.py")
    assert result.returncode == 2
    assert result.stdout == ""
    message = result.stderr.strip()
    assert message.startswith("nnlint: error: ")
    assert "pyproject.toml: cannot read TOML:" in message
    assert "line 1" in message
