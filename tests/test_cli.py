"""The command line, run as a subprocess: exit codes, output formats, selection, discovery."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nnlint.rules import DOC_HEADINGS, all_rules
from tests.conftest import ROOT, nnlint_command

BAD = """\
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(10, 32),
    nn.Sigmoid(),
    nn.Linear(32, 2),
)
"""
GOOD = BAD.replace("nn.Sigmoid()", "nn.ReLU()")
BROKEN = "import torch\n\ndef f(:\n    pass\n"

CONCISE_LINE = re.compile(
    r"(?P<path>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<code>NN\d{3}) (?P<msg>\S.*)"
)


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*nnlint_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(folder: Path, files: dict[str, str]) -> Path:
    """Write files below `folder`; a bare pyproject.toml stops the config search there."""
    files = {"pyproject.toml": "[project]\nname = 'demo'\n", **files}
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


def codes(stdout: str) -> list[tuple[str, str]]:
    """(path, code) for each concise line."""
    found = [CONCISE_LINE.fullmatch(line) for line in stdout.splitlines()]
    assert all(found), stdout
    return [(Path(m["path"]).as_posix(), m["code"]) for m in found if m]


def test_clean_file_exits_0(tmp_path: Path) -> None:
    write(tmp_path, {"good.py": GOOD})
    result = run(tmp_path, "good.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "All checks passed (1 file)." in result.stderr


def test_finding_exits_1_with_concise_line(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, "bad.py")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    match = CONCISE_LINE.fullmatch(lines[0])
    assert match, lines[0]
    assert (match["path"], match["line"], match["col"], match["code"]) == (
        "bad.py",
        "5",
        "5",
        "NN101",
    )
    assert "Found 1 finding in 1 file." in result.stderr


def test_full_format_shows_source_caret_and_help(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, "--output-format", "full", "bad.py")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("bad.py:5:5: NN101 (hidden-sigmoid-or-tanh) [warning] ")
    assert lines[1] == "  5 |     nn.Sigmoid(),"
    assert lines[2] == "    |     " + "^" * len("nn.Sigmoid()")
    assert lines[3].startswith("  help: ") and len(lines[3]) > len("  help: ")


def test_json_format(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, "--output-format", "json", "bad.py")
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert len(items) == 1
    item = items[0]
    assert item["code"] == "NN101"
    assert item["name"] == "hidden-sigmoid-or-tanh"
    assert item["severity"] == "warning"
    assert item["filename"] == "bad.py"
    assert item["location"] == {"row": 5, "column": 5}
    assert item["end_location"] == {"row": 5, "column": 17}
    assert item["message"] and item["help"] and item["help"] not in item["message"]
    concise = run(tmp_path, "bad.py").stdout
    assert concise == f"bad.py:5:5: NN101 {item['message']}; {item['help']}\n"


def test_json_format_without_findings_is_an_empty_list(tmp_path: Path) -> None:
    write(tmp_path, {"good.py": GOOD})
    result = run(tmp_path, "--output-format", "json", "good.py")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option"],
        ["--output-format", "xml"],
        ["--select", "XX1"],
        ["--select", "NN1234"],
        ["--ignore", "E501"],
    ],
)
def test_bad_option_exits_2(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, *args, "bad.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "error" in result.stderr


def test_missing_path_is_reported_and_the_rest_still_linted(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, "nosuch.py", "bad.py")
    assert result.returncode == 2
    assert "nnlint: error: nosuch.py: no such file or directory" in result.stderr
    assert codes(result.stdout) == [("bad.py", "NN101")]
    assert "Found 1 finding in 1 file." in result.stderr


def test_only_missing_paths_exit_2(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, "nosuch.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "nosuch.py: no such file or directory" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    write(tmp_path, {"good.py": GOOD})
    result = run(tmp_path, "--config", "nope.toml", "good.py")
    assert result.returncode == 2
    assert "nope.toml: no such file" in result.stderr


def test_bad_config_exits_2(tmp_path: Path) -> None:
    write(tmp_path, {"good.py": GOOD, "pyproject.toml": "[tool.nnlint]\nignore = 'NN101'\n"})
    result = run(tmp_path, "good.py")
    assert result.returncode == 2
    assert "pyproject.toml:2: $.tool.nnlint.ignore: expected a list" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"NN000", "NN101"}),
        (["--select", "NN1"], {"NN101"}),
        (["--select", "NN101"], {"NN101"}),
        (["--select", "NN000"], {"NN000"}),
        (["--select", "NN0,NN1"], {"NN000", "NN101"}),
        (["--select", "NN0", "--select", "NN1"], {"NN000", "NN101"}),
        (["--select", "NN1", "--extend-select", "NN000"], {"NN000", "NN101"}),
        (["--ignore", "NN101"], {"NN000"}),
        (["--ignore", "NN1"], {"NN000"}),
        (["--ignore", "NN0"], {"NN101"}),
        (["--select", "nn101"], {"NN101"}),
        (["--select", "NN2"], set()),
        (["--select", "ALL", "--ignore", "NN"], set()),
    ],
)
def test_select_and_ignore(tmp_path: Path, args: list[str], expected: set[str]) -> None:
    write(tmp_path, {"bad.py": BAD, "broken.py": BROKEN})
    result = run(tmp_path, *args, ".")
    assert {code for _, code in codes(result.stdout)} == expected
    assert result.returncode == (1 if expected else 0), result.stderr


def test_explain_prints_the_rule_doc(tmp_path: Path) -> None:
    result = run(tmp_path, "--explain", "NN101")
    assert result.returncode == 0
    assert result.stdout.startswith("# NN101 hidden-sigmoid-or-tanh (warning)\n")
    headings = re.findall(r"^## (.+)$", result.stdout, re.MULTILINE)
    assert headings == list(DOC_HEADINGS)
    assert run(tmp_path, "--explain", "nn101").stdout == result.stdout


def test_explain_unknown_code_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, "--explain", "NN999")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "--explain NN999: unknown rule selector `NN999`; did you mean `NN909`?" in result.stderr


def test_list_rules(tmp_path: Path) -> None:
    result = run(tmp_path, "--list-rules")
    assert result.returncode == 0
    rows = [line.split(maxsplit=2) for line in result.stdout.splitlines()]
    expected = [
        (r.code, r.name, ("(off by default) " if not r.default else "") + r.summary)
        for r in all_rules()
    ]
    assert [(r[0], r[1], r[2]) for r in rows] == expected
    off = {r[0] for r in rows if r[2].startswith("(off by default)")}
    assert {"NN001", "NN107", "NN110", "NN403", "NN502", "NN601"} <= off


def test_list_rules_json(tmp_path: Path) -> None:
    result = run(tmp_path, "--list-rules", "--output-format", "json")
    assert result.returncode == 0
    items = json.loads(result.stdout)
    assert items == [
        {
            "code": r.code,
            "name": r.name,
            "severity": r.severity,
            "summary": r.summary,
            "default": r.default,
            "runtime": r.runtime,
        }
        for r in all_rules()
    ]


def test_syntax_error_is_nn000_and_other_files_are_still_linted(tmp_path: Path) -> None:
    write(tmp_path, {"bad.py": BAD, "broken.py": BROKEN, "good.py": GOOD})
    result = run(tmp_path, ".")
    assert result.returncode == 1
    assert codes(result.stdout) == [("bad.py", "NN101"), ("broken.py", "NN000")]
    assert result.stdout.splitlines()[1].startswith("broken.py:3:7: NN000 cannot parse:")
    assert "Found 2 findings in 2 files." in result.stderr


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_folder_skips_gitignored_files_and_venv(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            ".gitignore": "generated/\n",
            "src/bad.py": BAD,
            "generated/bad.py": BAD,
            ".venv/lib/site.py": BAD,
            "venv/lib/site.py": BAD,
        },
    )
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    result = run(tmp_path, ".")
    assert codes(result.stdout) == [("src/bad.py", "NN101")]
    assert result.returncode == 1

    everything = run(tmp_path, "--no-respect-gitignore", ".")
    assert codes(everything.stdout) == [("generated/bad.py", "NN101"), ("src/bad.py", "NN101")]


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    command = 'python -m pip install torch==2.13.0 -e ".[test,probe]" && python -m pytest -q'
    assert f"```bash\n{command}\n```" in readme
    ci = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    assert ci[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in ci
    assert ci[-1] == command


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--select", "NN999"], "unknown rule selector `NN999`; did you mean `NN909`?"),
        (["--select=NN1,NN99X"], "unknown rule selector `NN99X`"),
        (["--select="], "expected rule codes or prefixes, got nothing"),
        (["--ignore", "E501"], "unknown rule selector `E501`; did you mean `NN501`?"),
        (["--extend-select", "NN8"], "unknown rule selector `NN8`"),
    ],
)
def test_unknown_selector_is_a_usage_error(tmp_path: Path, args: list[str], expected: str) -> None:
    """A typo in a selector must not switch linting off: exit 2 with a did-you-mean."""
    write(tmp_path, {"bad.py": BAD})
    result = run(tmp_path, *args, "bad.py")
    assert result.returncode == 2
    assert result.stdout == ""
    assert expected in result.stderr


@pytest.mark.parametrize("selector", ["ALL", "NN", "NN1", "NN10", "NN101", "nn101"])
def test_known_selectors_are_accepted(tmp_path: Path, selector: str) -> None:
    write(tmp_path, {"bad.py": BAD})
    assert run(tmp_path, "--select", selector, "bad.py").returncode == 1


def test_explain_and_list_rules_say_when_a_rule_is_off_by_default(tmp_path: Path) -> None:
    off = run(tmp_path, "--explain", "NN107").stdout
    assert "Off by default: select it with `--extend-select NN107`" in off
    assert "On by default." in run(tmp_path, "--explain", "NN101").stdout


def test_dash_reads_standard_input(tmp_path: Path) -> None:
    write(tmp_path, {})
    result = subprocess.run(
        [*nnlint_command(), "-"],
        input=BAD,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert codes(result.stdout) == [("-", "NN101")]


@pytest.mark.parametrize("args", [["-q"], ["--quiet"]])
def test_quiet_prints_only_the_findings(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path, {"bad.py": BAD, "good.py": GOOD})
    result = run(tmp_path, *args, "bad.py")
    assert result.returncode == 1
    assert codes(result.stdout) == [("bad.py", "NN101")]
    assert result.stderr == ""
    clean = run(tmp_path, *args, "good.py")
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")


@pytest.mark.parametrize("marker", ["pyproject.toml", ".git"])
def test_cache_goes_to_the_project_root_from_a_subfolder(tmp_path: Path, marker: str) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.py").write_text(BAD, encoding="utf-8")
    if marker == ".git":
        (tmp_path / ".git").mkdir()
    else:
        (tmp_path / marker).write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    result = run(tmp_path / "src", ".")
    assert result.returncode == 1
    assert (tmp_path / ".nnlint_cache").is_dir()
    assert not (tmp_path / "src" / ".nnlint_cache").exists()


def test_summary_counts_the_files_with_findings(tmp_path: Path) -> None:
    write(tmp_path, {"a.py": BAD, "b.py": BAD, "good.py": GOOD})
    result = run(tmp_path, ".")
    assert "Found 2 findings in 2 files." in result.stderr
    one = run(tmp_path, "a.py", "good.py")
    assert "Found 1 finding in 1 file." in one.stderr


def _notebook(cells: list[list[str]], outputs: bool = False) -> str:
    """A notebook with these code cells (each a list of source lines)."""
    made = []
    for lines in cells:
        cell: dict[str, object] = {"cell_type": "code", "metadata": {}, "source": lines}
        cell["execution_count"] = 1 if outputs else None
        cell["outputs"] = (
            [{"output_type": "stream", "name": "stdout", "text": ["ok\n"]}] if outputs else []
        )
        made.append(cell)
    document = {"cells": made, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(document, indent=1) + "\n"


SIGMOID_CELL = ["model = nn.Sequential(nn.Linear(4, 8), nn.Sigmoid(), nn.Linear(8, 2))\n"]


def test_notebook_from_stdin_is_linted_like_the_file(tmp_path: Path) -> None:
    notebook = _notebook([["import torch.nn as nn\n"], ["\n", "\n", *SIGMOID_CELL]])
    write(tmp_path, {"nb.ipynb": notebook})
    from_file = run(tmp_path, "nb.ipynb")
    assert from_file.returncode == 1
    assert "nb.ipynb:cell 2:3:40: NN101 " in from_file.stdout
    from_stdin = subprocess.run(
        [*nnlint_command(), "--stdin-filename", "nb.ipynb", "-"],
        input=notebook,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (from_stdin.returncode, from_stdin.stdout) == (1, from_file.stdout)


def test_notebook_findings_sort_by_cell_then_line(tmp_path: Path) -> None:
    cells = [["import torch.nn as nn\n"], ["\n", "\n", "\n", *SIGMOID_CELL]]
    cells += [["x = 1\n"]] * 8 + [SIGMOID_CELL]  # cell 11, line 1
    write(tmp_path, {"nb.ipynb": _notebook(cells)})
    result = run(tmp_path, "nb.ipynb")
    assert [line.split(": NN")[0] for line in result.stdout.splitlines()] == [
        "nb.ipynb:cell 2:4:40",
        "nb.ipynb:cell 11:1:40",
    ]


def test_fix_applies_inside_notebook_cells_and_keeps_outputs(tmp_path: Path) -> None:
    loop = [
        "loader = DataLoader(data, batch_size=8)\n",
        "for x, y in loader:\n",
        "    loss = criterion(model(x), y)\n",
        "    loss.backward()\n",
        "    optimizer.step()\n",
    ]
    setup = [
        "%matplotlib inline\n",
        "import torch\n",
        "from torch import nn\n",
        "from torch.utils.data import DataLoader\n",
        "model = nn.Linear(4, 2)\n",
        "criterion = nn.CrossEntropyLoss()\n",
        "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n",
        "data = [(torch.zeros(4), 0)] * 16",
    ]
    write(tmp_path, {"nb.ipynb": _notebook([setup, loop], outputs=True)})
    before = json.loads((tmp_path / "nb.ipynb").read_text("utf-8"))
    found = run(tmp_path, "nb.ipynb").stdout
    assert "nb.ipynb:cell 2:1:10: NN202 [*] " in found
    assert "nb.ipynb:cell 2:2:1: NN303 [*] " in found
    result = run(tmp_path, "--fix", "nb.ipynb")
    after = json.loads((tmp_path / "nb.ipynb").read_text("utf-8"))
    assert "fixed 2 findings" in result.stderr
    assert after["cells"][0] == before["cells"][0]  # magic line and all
    assert after["cells"][1]["outputs"] == before["cells"][1]["outputs"]
    assert after["cells"][1]["source"] == [
        "loader = DataLoader(data, batch_size=8, shuffle=True)\n",
        "for x, y in loader:\n",
        "    optimizer.zero_grad()\n",
        "    loss = criterion(model(x), y)\n",
        "    loss.backward()\n",
        "    optimizer.step()\n",
    ]
    assert not list(tmp_path.glob(".nb.ipynb.*"))  # written through a temporary file
    again = (tmp_path / "nb.ipynb").read_text("utf-8")
    run(tmp_path, "--fix", "nb.ipynb")
    assert (tmp_path / "nb.ipynb").read_text("utf-8") == again
