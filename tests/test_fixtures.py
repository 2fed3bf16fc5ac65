"""Fixtures are the spec: nnlint must report exactly the findings annotated on their lines."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nnlint.config import Settings
from nnlint.engine import INTERNAL_ERROR, lint
from nnlint.rules import all_rules
from tests.fixture_expectations import FIXTURES, expected_findings

ENGINE_REPORTED = {INTERNAL_ERROR}


@pytest.fixture(scope="module")
def reported() -> set[tuple[str, int, str, str]]:
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        report = lint([Path(".")], Settings(root=FIXTURES, respect_gitignore=False))
    finally:
        os.chdir(cwd)
    assert not report.errors, report.errors
    return {(Path(f.path).as_posix(), f.line, f.code, f.severity) for f in report.findings}


OFF_BY_DEFAULT = sorted(
    r.code for r in all_rules() if not r.default and not r.runtime and r.code not in ENGINE_REPORTED
)


def _default_expected() -> set[tuple[str, int, str, str]]:
    """Annotations of the rules a plain run reports (off-by-default rules are tested alone)."""
    return {e for e in expected_findings() if e[2] not in OFF_BY_DEFAULT}


@pytest.mark.parametrize("code", OFF_BY_DEFAULT)
def test_off_by_default_rule_fixtures(code: str) -> None:
    """An off-by-default rule, selected, reports exactly its annotations in its folder."""
    folder = Path("configs", code) if code.startswith("NN7") else Path(code)
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        report = lint([folder], Settings(root=FIXTURES, select=[code], respect_gitignore=False))
    finally:
        os.chdir(cwd)
    assert not report.errors, report.errors
    got = {(Path(f.path).as_posix(), f.line, f.code, f.severity) for f in report.findings}
    prefix = folder.as_posix() + "/"
    wanted = {e for e in expected_findings() if e[2] == code and e[0].startswith(prefix)}
    assert got == wanted, f"missing: {sorted(wanted - got)}\nextra: {sorted(got - wanted)}"


def test_no_missing_findings(reported: set[tuple[str, int, str, str]]) -> None:
    missing = sorted(_default_expected() - reported)
    assert not missing, "annotated but not reported:\n" + "\n".join(map(str, missing))


def test_no_extra_findings(reported: set[tuple[str, int, str, str]]) -> None:
    extra = sorted(reported - _default_expected())
    assert not extra, "reported but not annotated:\n" + "\n".join(map(str, extra))


def test_clean_scripts_have_no_annotations_and_no_findings(
    reported: set[tuple[str, int, str, str]],
) -> None:
    assert not [e for e in expected_findings() if e[0].startswith("clean/")]
    assert not [r for r in reported if r[0].startswith("clean/")]


def test_every_rule_has_true_positive_and_true_negative_fixtures() -> None:
    for rule in all_rules():
        if rule.code in ENGINE_REPORTED or rule.runtime:
            continue  # covered by tests/test_engine.py and the probe's tests
        folder = FIXTURES / rule.code
        if rule.code.startswith("NN7"):
            folder = FIXTURES / "configs" / rule.code
        tps = list(folder.glob("tp_*"))
        assert tps, f"{rule.code} has no true-positive fixtures"
        if rule.code != "NN000":
            assert len(list(folder.glob("tn_*"))) >= 5, f"{rule.code} needs true negatives"
            assert len(tps) >= 5, f"{rule.code} needs at least 5 true positives"
