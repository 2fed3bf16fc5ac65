"""Suppression comments: `# noqa`, `# noqa: NN101` on the finding's line, `# nnlint: noqa`."""

from __future__ import annotations

import json

import pytest

from nnlint.noqa import file_exempt, suppressed

TEMPLATE = """\
import torch.nn as nn

model = nn.Sequential(
    nn.Linear(10, 32),
    nn.Sigmoid(),{comment}
    nn.Linear(32, 2),
)
"""


def codes_for(lint_text, comment: str = "", header: str = "") -> list[str]:
    report = lint_text(header + TEMPLATE.format(comment=comment))
    assert not report.errors, report.errors
    return [f.code for f in report.findings]


def test_no_comment_reports(lint_text) -> None:
    assert codes_for(lint_text) == ["NN101"]


@pytest.mark.parametrize(
    "comment",
    [
        "  # noqa: NN101",
        "  # noqa:NN101",
        "  # noqa: nn101",
        "  # NOQA: NN101",
        "  # noqa: E501, NN101",
        "  # noqa: NN102 NN101",
        "  # noqa: NN101 - gate, not a hidden layer",
        "  # noqa",
        "  # type: ignore  # noqa",
    ],
)
def test_line_noqa_suppresses(lint_text, comment: str) -> None:
    assert codes_for(lint_text, comment) == []


@pytest.mark.parametrize(
    "comment",
    ["  # noqa: NN102", "  # noqa: E501", "  # noqa: NN1011", "  # no qa", "  # nnlint: noqa"],
)
def test_noqa_for_other_codes_does_not_suppress(lint_text, comment: str) -> None:
    assert codes_for(lint_text, comment) == ["NN101"]


def test_noqa_on_another_line_does_not_suppress(lint_text) -> None:
    text = TEMPLATE.format(comment="").replace("nn.Linear(10, 32),", "nn.Linear(10, 32),  # noqa")
    report = lint_text(text)
    assert [f.code for f in report.findings] == ["NN101"]


def test_file_level_nnlint_noqa(lint_text) -> None:
    assert codes_for(lint_text, header="# nnlint: noqa\n") == []


def test_file_level_noqa_covers_only_its_file(lint_text) -> None:
    report = lint_text(
        {
            "a.py": "# nnlint: noqa\n" + TEMPLATE.format(comment=""),
            "b.py": TEMPLATE.format(comment=""),
        }
    )
    assert [(f.path, f.code) for f in report.findings] == [("b.py", "NN101")]


@pytest.mark.parametrize(
    ("text", "exempt"),
    [
        ("# nnlint: noqa\nx = 1\n", True),
        ("x = 1\n  #nnlint:noqa  \n", True),
        ("# NNLINT: NOQA\n", True),
        ("x = 1  # nnlint: noqa\n", False),
        ("# noqa\nx = 1\n", False),
        ("# nnlint: noqa: NN101\n", False),
        ('x = """\n# nnlint: noqa\n"""\n', False),
    ],
)
def test_file_exempt(text: str, exempt: bool) -> None:
    assert file_exempt(text) is exempt


@pytest.mark.parametrize(
    ("line", "code", "expected"),
    [
        ("x  # noqa", "NN101", True),
        ("x  # noqa: NN101", "NN101", True),
        ("x  # noqa: NN101,NN102", "NN102", True),
        ("x  # noqa: NN102", "NN101", False),
        ("x", "NN101", False),
        ('x = "# noqa"', "NN101", False),
        ("x = '# noqa: NN101'", "NN101", False),
        ('x = "#"  # noqa: NN101', "NN101", True),
    ],
)
def test_suppressed(line: str, code: str, expected: bool) -> None:
    assert suppressed(line, code) is expected


@pytest.mark.parametrize("tail", ['; note = "# noqa"', "; note = '# noqa: NN101'", ""])
def test_noqa_inside_a_string_does_not_suppress(lint_text, tail: str) -> None:
    line = "model = nn.Sequential(nn.Linear(10, 32), nn.Sigmoid(), nn.Linear(32, 2))"
    report = lint_text(f"import torch.nn as nn\n\n{line}{tail}\n")
    assert [f.code for f in report.findings] == ["NN101"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("# nnlint: noqa: NN101\n", []),
        ("# nnlint: noqa: NN1\n", ["NN101"]),  # codes, not prefixes, as in ruff
        ("# nnlint: noqa: NN102, NN101\n", []),
        ("# nnlint: noqa: NN102\n", ["NN101"]),
    ],
)
def test_file_level_noqa_with_codes(lint_text, header: str, expected: list[str]) -> None:
    assert codes_for(lint_text, header=header) == expected


def test_unused_noqa_is_off_by_default(lint_text) -> None:
    text = TEMPLATE.format(comment="").replace("nn.Linear(10, 32),", "nn.Linear(10, 32),  # noqa")
    assert [f.code for f in lint_text(text).findings] == ["NN101"]


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("", None),
        ("  # noqa: NN101", None),
        ("  # noqa", None),
        ("  # noqa: E501, NN101", None),  # another tool's code is not nnlint's to judge
        ("  # noqa: NN101, NN105", "unused `noqa` code: NN105"),
    ],
)
def test_unused_noqa_nn001_on_a_used_line(lint_text, comment: str, message: str | None) -> None:
    report = lint_text(TEMPLATE.format(comment=comment), extend_select=["NN001"])
    unused = [(f.line, f.message) for f in report.findings if f.code == "NN001"]
    assert unused == ([(5, message)] if message else [])


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        ("  # noqa", None),  # a bare noqa may be another linter's
        ("  # noqa: E501", None),
        ("  # noqa: NN908", None),  # the probe's codes are not judged statically
        ("  # noqa: NN001", None),
        ("  # noqa: NN101", "unused `noqa` code: NN101"),
        ("  # noqa: NN101, NN102", "unused `noqa` codes: NN101, NN102"),
    ],
)
def test_unused_noqa_nn001_on_a_clean_line(lint_text, comment: str, message: str | None) -> None:
    text = TEMPLATE.format(comment="").replace("nn.Linear(10, 32),", f"nn.Linear(10, 32),{comment}")
    report = lint_text(text, extend_select=["NN001"])
    found = [(f.code, f.line, f.message) for f in report.findings if f.code == "NN001"]
    assert found == ([("NN001", 4, message)] if message else [])
    assert [f.code for f in report.findings if f.code != "NN001"] == ["NN101"]


def test_unused_noqa_reports_codes_of_rules_not_selected(lint_text) -> None:
    """As ruff's RUF100 does for "non-enabled" codes."""
    report = lint_text(TEMPLATE.format(comment="  # noqa: NN101"), select=["NN001", "NN2"])
    assert [(f.code, f.line, f.message) for f in report.findings] == [
        ("NN001", 5, "unused `noqa` code: NN101 (not selected)")
    ]


@pytest.mark.parametrize("header", ["# nnlint: noqa\n", "# nnlint: noqa: NN001\n"])
def test_unused_noqa_can_itself_be_suppressed(lint_text, header: str) -> None:
    text = header + TEMPLATE.format(comment="").replace(
        "nn.Linear(10, 32),", "nn.Linear(10, 32),  # noqa: NN101"
    )
    assert [f.code for f in lint_text(text, extend_select=["NN001"]).findings] == (
        [] if header == "# nnlint: noqa\n" else ["NN101"]
    )


def test_unknown_noqa_code_is_a_note_with_did_you_mean(lint_text) -> None:
    report = lint_text(TEMPLATE.format(comment="  # noqa: NN999"))
    assert [f.code for f in report.findings] == ["NN101"]
    assert report.notes == [
        "unknown rule code in `# noqa` (it suppresses nothing): train.py:5: NN999 "
        "(did you mean NN909?)"
    ]


def test_unknown_noqa_code_in_a_notebook_names_the_cell(lint_text) -> None:
    cells = [{"cell_type": "code", "metadata": {}, "source": "import torch\n"}]
    cells.append({"cell_type": "code", "metadata": {}, "source": "x = 1  # noqa: NN1011\n"})
    notebook = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    report = lint_text({"nb.ipynb": json.dumps(notebook)})
    assert report.notes == [
        "unknown rule code in `# noqa` (it suppresses nothing): nb.ipynb:cell 2:1: NN1011 "
        "(did you mean NN101?)"
    ]
