"""Output formats and where the report goes.

For people: concise (one line per finding) and full (with the source line and help). For
machines: json, json-lines, github (workflow annotations), sarif (code scanning) and junit
(CI test reports).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from nnlint.engine import Report
from nnlint.findings import Finding
from nnlint.fixes import fixer_for
from nnlint.junit import junit
from nnlint.rules import rule_by_code
from nnlint.sarif import cell_text, repo_path, sarif


def concise(report: Report) -> str:
    """`path:line:col: CODE message`, one line per finding (columns 1-based); `[*]` marks
    a finding `--fix` can fix (unsafe fixes too with `--unsafe-fixes`)."""
    return "".join(
        f"{f.location}: {f.code} {_fix_mark(f, report)}{f.text}\n" for f in report.findings
    )


def _fix_mark(finding: Finding, report: Report) -> str:
    fixer = fixer_for(finding)
    return "[*] " if fixer and (fixer.safe or report.show_unsafe_fixes) else ""


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


def _item(f: Finding) -> dict[str, object]:
    return {
        "code": f.code,
        "name": rule.name if (rule := rule_by_code(f.code)) else None,
        "severity": f.severity,
        "message": f.text,
        "help": f.help or None,
        "filename": f.path,
        "cell": f.cell,
        "location": {"row": f.line, "column": f.col + 1},
    }


def as_json(report: Report) -> str:
    """A JSON array of findings with 1-based line and column (and notebook cell or null)."""
    return json.dumps([_item(f) for f in report.findings], indent=2) + "\n"


def json_lines(report: Report) -> str:
    """One JSON object per line, the same as the items of `json`."""
    return "".join(json.dumps(_item(f)) + "\n" for f in report.findings)


GITHUB_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _github_data(text: str) -> str:
    """Escape a workflow command's message, as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """Escape a workflow command property value, where `:` and `,` are separators."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: Finding, path: str) -> str:
    """`::error file=…,line=…,col=…,title=nnlint (NN102)::message`; a notebook finding's
    message names its cell, since the line counts from the cell's top."""
    command = GITHUB_COMMANDS.get(finding.severity, "warning")
    properties = {
        "file": path,
        "line": str(finding.line),
        "col": str(finding.col + 1),
        "title": f"nnlint ({finding.code})",
    }
    joined = ",".join(f"{key}={_github_property(value)}" for key, value in properties.items())
    return f"::{command} {joined}::{_github_data(cell_text(finding))}"


def github(report: Report) -> str:
    """GitHub Actions annotations, with paths relative to the repository root."""
    return "".join(github_annotation(f, repo_path(f.path)) + "\n" for f in report.findings)


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


def statistics(report: Report, fmt: str) -> str:
    """Findings per rule, most frequent first: `count  code  name` (JSON for json formats)."""
    counts = Counter(f.code for f in report.findings)
    rows = [
        {"code": code, "name": rule.name if (rule := rule_by_code(code)) else "", "count": n}
        for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    ]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "json-lines":
        return "".join(json.dumps(row) + "\n" for row in rows)
    width = max((len(str(row["count"])) for row in rows), default=1)
    return "".join(f"{row['count']:>{width}}  {row['code']}  {row['name']}\n" for row in rows)


FORMATS: dict[str, Callable[[Report], str]] = {
    "concise": concise,
    "full": full,
    "json": as_json,
    "json-lines": json_lines,
    "github": github,
    "sarif": sarif,
    "junit": junit,
}
MACHINE_FORMATS = frozenset({"json", "json-lines", "sarif", "junit"})


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt](report)


def write_output(text: str, target: Path | None) -> None:
    """Write to stdout, or to `target` through a temporary file in the same folder and
    `os.replace`, so that no reader ever sees half a report."""
    if target is None:
        sys.stdout.write(text)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
