"""The rule registry: stable unique codes and names, and every doc in the guide's shape."""

from __future__ import annotations

import ast
import re
from collections import Counter

import pytest
import yaml

from nnlint.findings import SEVERITIES
from nnlint.rules import DOC_HEADINGS, Rule, all_rules
from tests.conftest import ROOT

GUIDE_HEADINGS = (
    "What it does",
    "Why is this bad?",
    "Example",
    "Use instead",
    "Known limits",
    "Fix safety",
    "References",
)
RULES = all_rules()


def test_there_are_rules() -> None:
    assert {"NN000", "NN101", "NN102"} <= {r.code for r in RULES}


def test_codes_are_unique_and_well_formed() -> None:
    counts = Counter(r.code for r in RULES)
    assert not [c for c, n in counts.items() if n > 1], counts
    assert all(re.fullmatch(r"NN\d{3}", r.code) for r in RULES), [r.code for r in RULES]


def test_names_are_unique_and_kebab_case() -> None:
    counts = Counter(r.name for r in RULES)
    assert not [n for n, k in counts.items() if k > 1], counts
    bad = [r.name for r in RULES if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)+", r.name)]
    assert not bad, bad


def test_registry_is_sorted_by_code() -> None:
    assert [r.code for r in RULES] == sorted(r.code for r in RULES)


def test_the_headings_are_the_guides() -> None:
    assert DOC_HEADINGS == GUIDE_HEADINGS


def sections(rule: Rule) -> dict[str, str]:
    parts = re.split(r"^## (.+)\n", rule.doc, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_text(rule: Rule) -> None:
    assert rule.severity in SEVERITIES
    assert rule.summary.strip() and "\n" not in rule.summary
    assert re.findall(r"^## (.+)$", rule.doc, re.MULTILINE) == list(GUIDE_HEADINGS)
    assert not rule.doc.split("## What it does")[0].strip(), "text before the first heading"
    assert all(body.strip() for body in sections(rule).values()), "an empty section"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_examples_parse(rule: Rule) -> None:
    parts = sections(rule)
    language = "yaml" if rule.code.startswith("NN7") else "python"
    blocks = {
        name: re.findall(rf"```{language}\n(.*?)```", parts[name], re.DOTALL)
        for name in ("Example", "Use instead")
    }
    assert blocks["Example"], f"Example has no ```{language} block"
    assert blocks["Use instead"], f"Use instead has no ```{language} block"
    for block in blocks["Use instead"]:
        if language == "yaml":
            yaml.safe_load(block)
        else:
            ast.parse(block)


def test_readme_rule_table_matches_the_registry() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    rows = re.findall(
        r"^\| (NN\d{3}) \| `([^`]+)` \| (.+?) \| (on|\*\*off\*\*|probe) \|$", readme, re.MULTILINE
    )
    default = {True: "on", False: "**off**"}
    expected = [
        (r.code, r.name, r.summary, "probe" if r.runtime else default[r.default]) for r in RULES
    ]
    assert rows == expected, (
        "README's rule table is out of date; regenerate it from `nnlint --list-rules`"
    )
