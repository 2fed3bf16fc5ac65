"""SARIF 2.1.0 for GitHub code scanning and other viewers.

Paths are repo-relative URIs (under `%SRCROOT%`, the git work tree holding the working
directory), and each rule carries its summary, documentation (plain text and markdown) and
a link to it, so that a viewer can show why a finding matters and what to write instead.
Each result has its span, a fingerprint that does not change when lines move (code
scanning uses it to keep an alert across commits), and a description of its fix. A
notebook finding points at its line inside the `.ipynb` file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from functools import cache
from pathlib import Path
from urllib.parse import quote

from nnlint import __version__
from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.fix_edits import Edit, fix_edits
from nnlint.fixable import fixer_for
from nnlint.notebook import JsonPositions, json_positions
from nnlint.rules import Rule, rule_by_code, rule_url

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


def plain_text(markdown: str) -> str:
    """A rule doc without markdown syntax, for viewers that show `help.text` as is:
    headings on their own line, code blocks indented, `code` spans and emphasis unmarked,
    links as `text (url)`, hard-wrapped prose joined into paragraphs."""
    blocks: list[str] = []
    prose: list[str] = []
    fenced = False

    def flush() -> None:
        if prose:
            blocks.append(" ".join(prose))
            prose.clear()

    for line in markdown.splitlines():
        if line.startswith("```"):
            flush()
            fenced = not fenced
            continue
        if fenced:
            blocks.append(f"    {line}")
            continue
        line = re.sub(r"`([^`]*)`", r"\1", line)
        line = re.sub(r"\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*", lambda m: m[1] or m[2], line)
        line = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", line)
        heading = re.match(r"#+\s*(.*)", line)
        if heading or not line.strip() or line.lstrip().startswith("- "):
            flush()
        if heading:
            blocks.append(f"\n{heading[1]}")
        elif line.strip():
            prose.append(line.strip())
    flush()
    return "\n".join(blocks).strip()


def _descriptor(code: str, rule: Rule | None) -> dict[str, object]:
    if rule is None:
        return {"id": code}
    what = doc_section(rule.doc, "What it does") or rule.summary
    doc = rule.doc or rule.summary
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": plain_text(what), "markdown": what},
        "help": {"text": plain_text(doc), "markdown": doc},
        "helpUri": rule_url(rule.code),
        "defaultConfiguration": {
            "level": LEVELS.get(rule.severity, "warning"),
            "enabled": rule.default,
        },
        "properties": {"tags": [rule.name], "precision": "medium"},
    }


def _artifact(path: str) -> dict[str, str]:
    relative = repo_path(path)
    if Path(relative).is_absolute():
        return {"uri": "file://" + quote(os.fsencode(relative))}
    return {"uri": quote(os.fsencode(relative)), "uriBaseId": SRCROOT}


def fingerprint(finding: Finding, line_text: str, seen: Counter[tuple[str, ...]]) -> str:
    """A hash of the file, the code, the stripped text of the finding's line and how many
    identical ones came before it: it stays the same when lines above are added or removed."""
    key = (repo_path(finding.path), finding.code, str(finding.cell or ""), line_text.strip())
    seen[key] += 1
    text = "\0".join((*key, str(seen[key])))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def region(finding: Finding, positions: JsonPositions | None) -> dict[str, int]:
    """The finding's span, 1-based; in a notebook, its place in the `.ipynb` JSON text."""
    end_line, end_col = end_of(finding)
    if finding.cell is None:
        start, end = (finding.line, finding.col), (end_line, end_col)
    else:
        start = positions.find(finding.cell, finding.line, finding.col) if positions else None
        if start is None:
            return {"startLine": 1, "startColumn": 1}
        end = positions.find(finding.cell, end_line, end_col) if positions else None
        end = end if end is not None and end >= start else start
    return {
        "startLine": max(start[0], 1),
        "startColumn": start[1] + 1,
        "endLine": max(end[0], start[0], 1),
        "endColumn": end[1] + 1 if end > start else start[1] + 2,
    }


def end_of(finding: Finding) -> tuple[int, int]:
    """The (line, 0-based column) where a finding's span ends; its start when unknown."""
    if (finding.end_line, finding.end_col) <= (finding.line, finding.col):
        return finding.line, finding.col
    return finding.end_line, finding.end_col


def _result(
    finding: Finding,
    index: int,
    print_: str,
    positions: JsonPositions | None,
    edits: list[Edit] | None,
) -> dict[str, object]:
    result: dict[str, object] = {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": LEVELS.get(finding.severity, "warning"),
        "message": {"text": cell_text(finding)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact(finding.path),
                    "region": region(finding, positions),
                }
            }
        ],
        "partialFingerprints": {"nnlint/v1": print_},
    }
    fixer = fixer_for(finding)
    if fixer is not None and edits and finding.cell is None:
        safety = "" if fixer.safe else " (unsafe: changes what the model computes)"
        replacements = [
            {
                "deletedRegion": {
                    "startLine": edit.row,
                    "startColumn": 1,
                    "endLine": edit.end_row,
                    "endColumn": 1,
                },
                "insertedContent": {"text": edit.content},
            }
            for edit in edits
        ]
        result["fixes"] = [
            {
                "description": {"text": f"{fixer.title}{safety}"},
                "artifactChanges": [
                    {"artifactLocation": _artifact(finding.path), "replacements": replacements}
                ],
            }
        ]
    if finding.cell is not None:
        properties = result.setdefault("properties", {})
        assert isinstance(properties, dict)
        properties.update(cell=finding.cell, cellLine=finding.line)
    return result


def notebook_positions(report: Report) -> dict[str, JsonPositions | None]:
    """Where the code of each notebook with findings lies in its JSON text."""
    paths = {f.path for f in report.findings if f.cell is not None}
    found: dict[str, JsonPositions | None] = {}
    for path in paths:
        try:
            found[path] = json_positions(Path(path).read_text("utf-8", errors="replace"))
        except OSError:
            found[path] = None
    return found


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
    seen: Counter[tuple[str, ...]] = Counter()
    positions = notebook_positions(report)
    edits = fix_edits(report.findings)
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
                "results": [
                    _result(
                        f,
                        index[f.code],
                        fingerprint(f, report.line_text(f), seen),
                        positions.get(f.path),
                        edits.get(f),
                    )
                    for f in report.findings
                ],
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
