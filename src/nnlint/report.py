"""Output formats: concise (one line per finding), full (with source and help), json."""

from __future__ import annotations

import json
from collections.abc import Callable

from nnlint.engine import Report
from nnlint.rules import rule_by_code


def concise(report: Report) -> str:
    """`path:line:col: CODE message`, one line per finding (columns 1-based)."""
    return "".join(f"{f.location}: {f.code} {f.text}\n" for f in report.findings)


def full(report: Report) -> str:
    """Each finding with its severity, the offending source line and a `help:` line."""
    out = []
    for f in report.findings:
        source = report.line_text(f)
        rule = rule_by_code(f.code)
        name = f" ({rule.name})" if rule else ""
        out.append(f"{f.location}: {f.code}{name} [{f.severity}] {f.message}")
        if source:
            width = len(str(f.line))
            out.append(f"  {f.line} | {source}")
            out.append(f"  {' ' * width} | {' ' * f.col}^")
        if f.help:
            out.append(f"  help: {f.help}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def as_json(report: Report) -> str:
    """A JSON array of findings with 1-based line and column."""
    items = [
        {
            "code": f.code,
            "name": rule.name if (rule := rule_by_code(f.code)) else None,
            "severity": f.severity,
            "message": f.text,
            "help": f.help or None,
            "filename": f.path,
            "location": {"row": f.line, "column": f.col + 1},
        }
        for f in report.findings
    ]
    return json.dumps(items, indent=2) + "\n"


def summary(report: Report) -> str:
    """The closing line for humans on stderr."""
    count = len(report.findings)
    noun = "finding" if count == 1 else "findings"
    files = "file" if report.files == 1 else "files"
    return (
        f"Found {count} {noun} in {report.files} {files}."
        if count
        else f"All checks passed ({report.files} {files})."
    )


FORMATS: dict[str, Callable[[Report], str]] = {"concise": concise, "full": full, "json": as_json}


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt](report)
