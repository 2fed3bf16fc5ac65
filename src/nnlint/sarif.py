"""SARIF 2.1.0 for GitHub code scanning and other viewers.

Paths are repo-relative URIs (under `%SRCROOT%`, the git work tree holding the working
directory), and each rule carries its summary and documentation so that a viewer can show
why a finding matters and what to write instead.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from urllib.parse import quote

from nnlint import __version__
from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.rules import Rule, rule_by_code

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SRCROOT = "%SRCROOT%"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


@cache
def _root(cwd: Path) -> Path:
    """The git work tree holding `cwd`, or `cwd` itself outside git."""
    return next((folder for folder in (cwd, *cwd.parents) if (folder / ".git").exists()), cwd)


def repo_path(path: str) -> str:
    """A reported path relative to the repository root (POSIX form), as CI services expect;
    absolute when the file lies outside it."""
    cwd = Path.cwd()
    absolute = Path(os.path.abspath(cwd / path))
    try:
        return absolute.relative_to(_root(cwd)).as_posix()
    except ValueError:
        return absolute.as_posix()


def cell_text(finding: Finding) -> str:
    """The finding's text, led by its notebook cell and line, which a file location in
    an `.ipynb` cannot express."""
    if finding.cell is None:
        return finding.text
    return f"cell {finding.cell}, line {finding.line}: {finding.text}"


def doc_section(doc: str, heading: str) -> str:
    """The body of a `## heading` section of a rule doc ('' when absent)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", doc, re.M | re.S)
    return match[1].strip() if match else ""


def _unwrap(markdown: str) -> str:
    """Plain text: hard-wrapped lines joined, paragraphs kept."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", markdown)


def _descriptor(code: str, rule: Rule | None) -> dict[str, object]:
    if rule is None:
        return {"id": code}
    what = doc_section(rule.doc, "What it does") or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _unwrap(what), "markdown": what},
        "help": {"text": rule.doc or rule.summary, "markdown": rule.doc or rule.summary},
        "defaultConfiguration": {"level": LEVELS.get(rule.severity, "warning")},
    }


def _artifact(path: str) -> dict[str, str]:
    relative = repo_path(path)
    if Path(relative).is_absolute():
        return {"uri": Path(relative).as_uri()}
    return {"uri": quote(relative), "uriBaseId": SRCROOT}


def _result(finding: Finding, index: int) -> dict[str, object]:
    region = {"startLine": max(finding.line, 1), "startColumn": max(finding.col + 1, 1)}
    result: dict[str, object] = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": cell_text(finding)},
        "locations": [
            {"physicalLocation": {"artifactLocation": _artifact(finding.path), "region": region}}
        ],
    }
    if finding.cell is not None:
        result["properties"] = {"cell": finding.cell}
    return result


def _invocation(report: Report) -> dict[str, object]:
    notes = [{"level": "error", "message": {"text": text}} for text in report.errors]
    notes += [{"level": "warning", "message": {"text": text}} for text in report.unreadable]
    invocation: dict[str, object] = {"executionSuccessful": not report.errors}
    if notes:
        invocation["toolExecutionNotifications"] = notes
    return invocation


def sarif(report: Report) -> str:
    """One SARIF run: the rules that have findings, then the findings."""
    codes = sorted({f.code for f in report.findings})
    index = {code: i for i, code in enumerate(codes)}
    root = _root(Path.cwd()).as_uri()
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nnlint",
                        "version": __version__,
                        "rules": [_descriptor(code, rule_by_code(code)) for code in codes],
                    }
                },
                "originalUriBaseIds": {SRCROOT: {"uri": root.rstrip("/") + "/"}},
                "invocations": [_invocation(report)],
                "results": [_result(f, index[f.code]) for f in report.findings],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
