"""Every output format on a small project (a notebook included) against stored expectations;
SARIF against the official SARIF 2.1.0 schema; `-o`, `--statistics`, `--exit-zero`, `--fail-on`.

After an intended change of output, rewrite the expectations with
`NNLINT_UPDATE_EXPECTED=1 python -m pytest tests/test_formats.py` and read the diff.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from nnlint import __version__, cli, report
from nnlint.cli import exit_code
from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.junit import junit
from nnlint.report import github_annotation
from nnlint.rule_docs import markdown
from nnlint.rules import rule_by_code, rule_url
from nnlint.sarif import doc_section, plain_text
from tests.conftest import ROOT, nnlint_command
from tests.test_cli import run

DATA = Path(__file__).parent / "data"
EXPECTED = DATA / "formats"
UPDATE = os.environ.get("NNLINT_UPDATE_EXPECTED") == "1"

TRAIN = '''\
"""Tabular classifier: a hidden sigmoid and a softmax fed to CrossEntropyLoss."""
import torch
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(20, 64),
    nn.Sigmoid(),
    nn.Linear(64, 3),
    nn.Softmax(dim=1),
)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def train_step(inputs, targets):
    optimizer.zero_grad()
    loss = criterion(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return loss.item()
'''
CLEAN = '''\
"""A small MLP with ReLU hidden layers that returns logits."""
import torch.nn as nn

model = nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 3))
criterion = nn.CrossEntropyLoss()
'''


def _cell(kind: str, *lines: str) -> dict[str, object]:
    cell: dict[str, object] = {"cell_type": kind, "metadata": {}, "source": list(lines)}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


NOTEBOOK = json.dumps(
    {
        "cells": [
            _cell("markdown", "# First look\n", "A quick autoencoder."),
            _cell("code", "%matplotlib inline\n", "import torch.nn as nn"),
            _cell(
                "code",
                "encoder = nn.Sequential(\n",
                "    nn.Linear(784, 128),\n",
                "    nn.Tanh(),\n",
                "    nn.Linear(128, 32),\n",
                ")",
            ),
            _cell("code", "!nvidia-smi\n", "encoder"),
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    },
    indent=1,
)
PROJECT = {
    "pyproject.toml": "[project]\nname = 'demo'\n",
    "train.py": TRAIN,
    "clean.py": CLEAN,
    "notebooks/first look.ipynb": NOTEBOOK,
}
FORMATS = {
    "concise": "concise.txt",
    "full": "full.txt",
    "json": "report.json",
    "json-lines": "report.jsonl",
    "github": "github.txt",
    "sarif": "report.sarif",
    "junit": "junit.xml",
}
SUMMARY = "Found 3 findings in 2 files.\n"  # 3 files checked, findings in 2


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("project"), PROJECT)


def stable_sarif(text: str, root: Path) -> str:
    """The SARIF text with this machine's parts (nnlint version, project folder) replaced."""
    log = json.loads(text)
    run_ = log["runs"][0]
    assert run_["tool"]["driver"]["version"] == __version__
    run_["tool"]["driver"]["version"] = "<version>"
    assert run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] == root.resolve().as_uri() + "/"
    run_["originalUriBaseIds"]["%SRCROOT%"]["uri"] = "<root>"
    return json.dumps(log, indent=2) + "\n"


def matches_expected(name: str, actual: str) -> None:
    expected = EXPECTED / name
    if UPDATE:
        expected.write_text(actual, encoding="utf-8", newline="\n")
    assert actual == expected.read_text(encoding="utf-8"), f"{name} differs"


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_matches_expectation(project: Path, fmt: str) -> None:
    result = run(project, "--output-format", fmt, ".")
    assert result.returncode == 1, result.stderr
    output = stable_sarif(result.stdout, project) if fmt == "sarif" else result.stdout
    matches_expected(FORMATS[fmt], output)
    machine = fmt in {"json", "json-lines", "sarif", "junit"}
    assert result.stderr == ("" if machine else SUMMARY)


def sarif_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def test_sarif_schema_is_the_complete_official_one() -> None:
    schema = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    assert schema["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert len(schema["definitions"]) == 52
    referenced = {ref.rsplit("/", 1)[1] for ref in _refs(schema)}
    assert referenced <= set(schema["definitions"])


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_sarif_validates_against_the_official_schema(project: Path, tmp_path: Path) -> None:
    validator = sarif_validator()
    log = json.loads(run(project, "--output-format", "sarif", ".").stdout)
    validator.validate(log)
    assert len(log["runs"][0]["results"]) == 3
    clean = write(tmp_path, {"pyproject.toml": PROJECT["pyproject.toml"], "clean.py": CLEAN})
    result = run(clean, "--output-format", "sarif", ".")
    assert result.returncode == 0
    empty = json.loads(result.stdout)
    validator.validate(empty)
    assert empty["runs"][0]["results"] == []
    assert empty["runs"][0]["tool"]["driver"]["rules"] == []


def test_sarif_rules_carry_the_rule_docs(project: Path) -> None:
    log = json.loads(run(project, "--output-format", "sarif", ".").stdout)
    driver = log["runs"][0]["tool"]["driver"]
    assert [r["id"] for r in driver["rules"]] == ["NN101", "NN102"]
    for descriptor in driver["rules"]:
        rule = rule_by_code(descriptor["id"])
        assert rule is not None
        assert descriptor["name"] == rule.name
        assert descriptor["shortDescription"] == {"text": rule.summary}
        assert descriptor["fullDescription"]["markdown"] == doc_section(rule.doc, "What it does")
        assert "\n" not in descriptor["fullDescription"]["text"]
        assert descriptor["help"] == {"text": plain_text(rule.doc), "markdown": rule.doc}
        assert "```" not in descriptor["help"]["text"]
        assert "## " not in descriptor["help"]["text"]
        assert descriptor["helpUri"] == rule_url(rule.code)
        assert descriptor["helpUri"].endswith(f"docs/rules.md#{rule.code.lower()}-{rule.name}")
        level = {"error": "error", "warning": "warning", "info": "note"}[rule.severity]
        assert descriptor["defaultConfiguration"] == {"level": level, "enabled": rule.default}
    for result in log["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_paths_are_relative_to_the_git_work_tree(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    sub = write(
        tmp_path / "sub dir", {"pyproject.toml": PROJECT["pyproject.toml"], "train.py": TRAIN}
    )
    log = json.loads(run(sub, "--output-format", "sarif", "train.py").stdout)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "sub%20dir/train.py", "uriBaseId": "%SRCROOT%"}
    assert (
        log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        == tmp_path.resolve().as_uri() + "/"
    )
    annotations = run(sub, "--output-format", "github", "train.py").stdout
    assert annotations.startswith("::warning file=sub dir/train.py,line=7,col=5,")


def test_github_escapes_messages_and_properties() -> None:
    finding = Finding("odd:name,1.py", 3, 4, "NN101", "100% sure: a, b\nnext\r\nline", "info")
    assert github_annotation(finding, finding.path) == (
        "::notice file=odd%3Aname%2C1.py,line=3,col=5,endLine=3,endColumn=6,title=nnlint (NN101)"
        "::100%25 sure: a, b%0Anext%0D%0Aline"
    )


def test_github_names_the_notebook_cell() -> None:
    finding = Finding("nb.ipynb", 2, 0, "NN102", "softmax", "error", "return logits", cell=4)
    where = {"startLine": 40, "startColumn": 6, "endLine": 40, "endColumn": 9}
    assert github_annotation(finding, "nb.ipynb", where) == (
        "::error file=nb.ipynb,line=40,col=6,endLine=40,endColumn=9,title=nnlint (NN102)"
        "::cell 4, line 2: softmax; return logits"
    )


@pytest.mark.parametrize("fmt", ["github", "sarif"])
def test_notebook_locations_land_on_the_cell_source_in_the_ipynb(project: Path, fmt: str) -> None:
    """A notebook finding points at its own line and column of the `.ipynb` JSON text, where
    GitHub shows annotations and code scanning alerts."""
    result = run(project, "--output-format", fmt, "notebooks/first look.ipynb")
    if fmt == "github":
        found = re.search(r"line=(\d+),col=(\d+),endLine=(\d+),endColumn=(\d+)", result.stdout)
        assert found, result.stdout
        line, col, end_line, end_col = map(int, found.groups())
    else:
        region = json.loads(result.stdout)["runs"][0]["results"][0]["locations"][0]
        region = region["physicalLocation"]["region"]
        line, col = region["startLine"], region["startColumn"]
        end_line, end_col = region["endLine"], region["endColumn"]
    text = (project / "notebooks" / "first look.ipynb").read_text("utf-8").splitlines()
    assert end_line == line
    assert text[line - 1][col - 1 : end_col - 1] == "nn.Tanh()"


def test_sarif_fingerprints_survive_lines_moving(tmp_path: Path) -> None:
    write(tmp_path, {"pyproject.toml": PROJECT["pyproject.toml"], "train.py": TRAIN})

    def results() -> list[tuple[str, int]]:
        log = json.loads(run(tmp_path, "--no-cache", "--output-format", "sarif", ".").stdout)
        return [
            (
                r["partialFingerprints"]["nnlint/v1"],
                r["locations"][0]["physicalLocation"]["region"]["startLine"],
            )
            for r in log["runs"][0]["results"]
        ]

    before = results()
    (tmp_path / "train.py").write_text("# a comment\n\n" + TRAIN, encoding="utf-8")
    after = results()
    assert [p for p, _ in before] == [p for p, _ in after]
    assert len({p for p, _ in before}) == len(before)
    assert [line + 2 for _, line in before] == [line for _, line in after]


def test_sarif_and_json_carry_the_fix(project: Path) -> None:
    log = json.loads(run(project, "--output-format", "sarif", "train.py").stdout)
    fixed = [r for r in log["runs"][0]["results"] if r["ruleId"] == "NN102"]
    assert fixed[0]["fixes"] == [
        {
            "description": {
                "text": "remove the activation before the loss (unsafe: changes what the model "
                "computes)"
            },
            "artifactChanges": [
                {
                    "artifactLocation": {"uri": "train.py", "uriBaseId": "%SRCROOT%"},
                    "replacements": [
                        {
                            "deletedRegion": {
                                "startLine": 9,
                                "startColumn": 1,
                                "endLine": 10,
                                "endColumn": 1,
                            },
                            "insertedContent": {"text": ""},
                        }
                    ],
                }
            ],
        }
    ]
    items = json.loads(run(project, "--output-format", "json", "train.py").stdout)
    assert [item["fix"] for item in items] == [
        None,
        {
            "applicability": "unsafe",
            "message": "remove the activation before the loss",
            "edits": [
                {
                    "content": "",
                    "location": {"row": 9, "column": 1},
                    "end_location": {"row": 10, "column": 1},
                }
            ],
        },
    ]


def test_json_has_the_fields_ruff_users_parse(project: Path) -> None:
    items = json.loads(run(project, "--output-format", "json", ".").stdout)
    for item in items:
        assert {"code", "message", "location", "end_location", "filename", "fix", "url"} <= set(
            item
        )
        assert item["noqa_row"] == item["location"]["row"]
        assert item["help"] not in item["message"]
        assert item["url"] == rule_url(item["code"])
        start, end = item["location"], item["end_location"]
        assert (end["row"], end["column"]) > (start["row"], start["column"])


def test_full_underlines_the_whole_span(project: Path) -> None:
    lines = run(project, "--output-format", "full", "train.py").stdout.splitlines()
    at = lines.index("  7 |     nn.Sigmoid(),")
    assert lines[at + 1] == "    |     " + "^" * len("nn.Sigmoid()")


def test_junit_is_well_formed(project: Path) -> None:
    root = ET.fromstring(run(project, "--output-format", "junit", ".").stdout)
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("errors")) == (
        "testsuites",
        "3",
        "3",
        "0",
    )
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert set(suites) == {"notebooks/first look.ipynb", "train.py"}
    failures = [case.find("failure") for case in root.iter("testcase")]
    assert [f.get("type") for f in failures if f is not None] == ["NN101", "NN101", "NN102"]


def test_junit_clean_run_is_one_passing_test(tmp_path: Path) -> None:
    clean = write(tmp_path, {"pyproject.toml": PROJECT["pyproject.toml"], "clean.py": CLEAN})
    result = run(clean, "--output-format", "junit", ".")
    assert result.returncode == 0
    root = ET.fromstring(result.stdout)
    cases = list(root.iter("testcase"))
    assert len(cases) == 1 and not list(cases[0])
    assert (root.get("tests"), root.get("failures")) == ("1", "0")


def test_junit_escapes_markup_and_drops_control_characters() -> None:
    finding = Finding("a<b>.py", 1, 0, "NN101", 'x < y & "z"\x00\x1b', "warning", "fix\x07 it")
    report = Report(findings=[finding], files=1, errors=["internal error in NN999: boom"])
    root = ET.fromstring(junit(report))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == 'x < y & "z"\ufffd\ufffd; fix\ufffd it'
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("2", "1", "1")
    assert root.find("testsuite[@name='nnlint']/testcase/error") is not None


def test_output_file_is_written_and_stdout_stays_empty(project: Path, tmp_path: Path) -> None:
    target = tmp_path / "reports" / "nnlint.sarif"
    result = run(project, "--output-format", "sarif", "-o", str(target), ".")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == SUMMARY
    matches_expected("report.sarif", stable_sarif(target.read_text(encoding="utf-8"), project))
    assert [p.name for p in target.parent.iterdir()] == ["nnlint.sarif"]
    again = run(project, "--output-file", str(target), ".")
    assert again.stdout == ""
    assert target.read_text(encoding="utf-8") == (EXPECTED / "concise.txt").read_text("utf-8")


def test_output_file_that_cannot_be_written_exits_2(project: Path, tmp_path: Path) -> None:
    result = run(project, "-o", str(tmp_path), ".")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"nnlint: error: cannot write {tmp_path}" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_statistics(project: Path) -> None:
    result = run(project, "--statistics", ".")
    assert result.returncode == 1
    matches_expected("statistics.txt", result.stdout)
    as_json = json.loads(run(project, "--statistics", "--output-format", "json", ".").stdout)
    assert as_json == [
        {"code": "NN101", "name": "hidden-sigmoid-or-tanh", "count": 2},
        {"code": "NN102", "name": "output-activation-loss-mismatch", "count": 1},
    ]


def test_exit_zero_still_reports(project: Path) -> None:
    result = run(project, "--exit-zero", ".")
    assert result.returncode == 0
    assert result.stdout == (EXPECTED / "concise.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--fail-on", "error", "notebooks"], 0),
        (["--fail-on", "warning", "notebooks"], 1),
        (["--fail-on", "info", "notebooks"], 1),
        (["notebooks"], 1),
        (["--fail-on", "error", "train.py"], 1),
        (["--fail-on", "error", "clean.py"], 0),
        (["--fail-on", "fatal", "train.py"], 2),
    ],
)
def test_fail_on(project: Path, args: list[str], code: int) -> None:
    assert run(project, *args).returncode == code


def _finding(severity: str) -> Finding:
    return Finding("a.py", 1, 0, "NN101", "message", severity)


@pytest.mark.parametrize(
    ("severity", "fail_on", "expected"),
    [
        ("info", "info", 1),
        ("info", "warning", 0),
        ("warning", "warning", 1),
        ("warning", "error", 0),
        ("error", "error", 1),
    ],
)
def test_exit_code_threshold(severity: str, fail_on: str, expected: int) -> None:
    assert exit_code(Report(findings=[_finding(severity)], files=1), fail_on) == expected


def test_exit_code_errors_win_over_exit_zero() -> None:
    broken = Report(findings=[_finding("error")], files=1, errors=["internal error"])
    assert exit_code(broken, exit_zero=True) == 2
    assert exit_code(Report(files=0, unreadable=["a.py: cannot read"]), exit_zero=True) == 2
    assert exit_code(Report(findings=[_finding("error")], files=1), exit_zero=True) == 0


ODD_NAME = os.fsdecode(b"bad\xff name.py")  # not UTF-8: Python keeps the byte as a surrogate


@pytest.fixture(scope="module")
def odd_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("odd")
    write(folder, {"pyproject.toml": PROJECT["pyproject.toml"]})
    try:
        (folder / ODD_NAME).write_text(TRAIN, encoding="utf-8")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes only UTF-8 names")
    return folder


def run_bytes(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*nnlint_command(), *args],
        cwd=cwd,
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_non_utf8_file_names_do_not_crash_any_format(odd_project: Path, fmt: str) -> None:
    result = run_bytes(odd_project, "--no-cache", "--output-format", fmt, ".")
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    if fmt in ("json", "sarif"):
        json.loads(result.stdout)
    if fmt == "junit":
        ET.fromstring(result.stdout)
    if fmt == "concise":  # the name's own bytes, so the user can open the file
        assert result.stdout.startswith(b"bad\xff name.py:7:5: NN101 ")
    to_file = run_bytes(odd_project, "--no-cache", "--output-format", fmt, "-o", "out", ".")
    assert to_file.returncode == 1, to_file.stderr
    assert (odd_project / "out").read_bytes().strip()


def test_sarif_uri_of_a_non_utf8_name_is_its_percent_encoded_bytes(odd_project: Path) -> None:
    log = json.loads(run_bytes(odd_project, "--no-cache", "--output-format", "sarif", ".").stdout)
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "bad%FF%20name.py"


def test_strict_ascii_stdout_does_not_crash(project: Path) -> None:
    result = run_bytes(project, "notebooks", PYTHONIOENCODING="ascii:strict")
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stdout.isascii()


def test_output_to_a_device_writes_it_in_place(project: Path) -> None:
    devnull = Path(os.devnull)
    if not devnull.is_char_device():
        pytest.skip("no character device to write to")
    before = devnull.stat()
    result = run(project, "--output-format", "json", "-o", os.devnull, ".")
    assert result.returncode == 1, result.stderr
    after = devnull.stat()
    assert devnull.is_char_device()
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_output_through_a_symlink_replaces_the_file_it_points_to(
    project: Path, tmp_path: Path
) -> None:
    target = tmp_path / "report.json"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    assert run(project, "--output-format", "json", "-o", str(link), ".").returncode == 1
    assert link.is_symlink()
    assert json.loads(target.read_text("utf-8"))


def test_output_to_a_folder_is_refused(project: Path, tmp_path: Path) -> None:
    result = run(project, "-o", str(tmp_path), ".")
    assert result.returncode == 2
    assert f"cannot write {tmp_path}: it is a folder" in result.stderr


def test_rule_reference_is_current() -> None:
    """docs/rules.md (where helpUri and url point) is what `python -m nnlint.rule_docs`
    generates from the registry."""
    assert (ROOT / "docs" / "rules.md").read_text("utf-8") == markdown()


def test_the_command_line_offers_every_format() -> None:
    """The CLI names the formats without importing the renderers (a fast `--version`)."""
    assert tuple(report.FORMATS) == cli.FORMATS
    assert set(report.FORMATS) > cli.MACHINE_FORMATS
