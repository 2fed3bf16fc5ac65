"""Suppression comments: `# noqa`, `# noqa: NN101` on the finding's line, `# nnlint: noqa`."""

from __future__ import annotations

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
    ],
)
def test_suppressed(line: str, code: str, expected: bool) -> None:
    assert suppressed(line, code) is expected
