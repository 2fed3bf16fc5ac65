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
from nnlint.fix_edits import Edit, fix_edits
from nnlint.fixable import fixer_for
from nnlint.rules import rule_by_code, rule_url
from nnlint.sarif import cell_text, end_of, notebook_positions, region, repo_path, sarif


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
    """Each finding with its severity, the offending source line with its span underlined
    (to the end of the line when the span goes on), and a `help:` line."""
    out = []
    for f in report.findings:
        source = report.line_text(f)
        rule = rule_by_code(f.code)
        name = f" ({rule.name})" if rule else ""
        out.append(f"{f.location}: {f.code}{name} [{f.severity}] {f.message}")
        if source:
            width = len(str(f.line))
            end_line, end_col = end_of(f)
            end = end_col if end_line == f.line else len(source)
            out.append(f"  {f.line} | {source}")
            out.append(f"  {' ' * width} | {' ' * f.col}{'^' * max(end - f.col, 1)}")
        if f.help:
            out.append(f"  help: {f.help}")
        out.append("")
    return "\n".join(out) + ("\n" if out else "")


def _fix(finding: Finding, edits: list[Edit] | None) -> dict[str, object] | None:
    """ruff's `fix` object: how safe the fix is, what it does, and its text edits
    (1-based rows and columns; whole lines)."""
    fixer = fixer_for(finding)
    if fixer is None or edits is None:
        return None
    return {
        "applicability": "safe" if fixer.safe else "unsafe",
        "message": fixer.title,
        "edits": [
            {
                "content": edit.content,
                "location": {"row": edit.row, "column": 1},
                "end_location": {"row": edit.end_row, "column": 1},
            }
            for edit in edits
        ],
    }


def _item(f: Finding, edits: dict[Finding, list[Edit]]) -> dict[str, object]:
    """One finding in the shape ruff's JSON output has (`message` without the advice, which
    is `help`), plus nnlint's rule name, severity and notebook cell."""
    end_line, end_col = end_of(f)
    return {
        "code": f.code,
        "name": rule.name if (rule := rule_by_code(f.code)) else None,
        "severity": f.severity,
        "message": f.message,
        "help": f.help or None,
        "filename": f.path,
        "cell": f.cell,
        "location": {"row": f.line, "column": f.col + 1},
        "end_location": {"row": end_line, "column": end_col + 1},
        "fix": _fix(f, edits.get(f)),
        "url": rule_url(f.code),
        "noqa_row": f.line,
    }


def as_json(report: Report) -> str:
    """A JSON array of findings with 1-based line and column (and notebook cell or null)."""
    edits = fix_edits(report.findings)
    return json.dumps([_item(f, edits) for f in report.findings], indent=2) + "\n"


def json_lines(report: Report) -> str:
    """One JSON object per line, the same as the items of `json`."""
    edits = fix_edits(report.findings)
    return "".join(json.dumps(_item(f, edits)) + "\n" for f in report.findings)


GITHUB_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def _github_data(text: str) -> str:
    """Escape a workflow command's message, as GitHub's toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    """Escape a workflow command property value, where `:` and `,` are separators."""
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(finding: Finding, path: str, where: dict[str, int] | None = None) -> str:
    """`::error file=…,line=…,col=…,endLine=…,endColumn=…,title=nnlint (NN102)::message`;
    `where` is the SARIF-style region (in a notebook, inside the `.ipynb` file), and a
    notebook finding's message names its cell and line."""
    command = GITHUB_COMMANDS.get(finding.severity, "warning")
    where = where or region(finding, None)
    properties = {
        "file": path,
        "line": str(where["startLine"]),
        "col": str(where["startColumn"]),
        "endLine": str(where.get("endLine", where["startLine"])),
        "endColumn": str(where.get("endColumn", where["startColumn"])),
        "title": f"nnlint ({finding.code})",
    }
    joined = ",".join(f"{key}={_github_property(value)}" for key, value in properties.items())
    return f"::{command} {joined}::{_github_data(cell_text(finding))}"


def github(report: Report) -> str:
    """GitHub Actions annotations, with paths relative to the repository root."""
    positions = notebook_positions(report)
    return "".join(
        github_annotation(f, repo_path(f.path), region(f, positions.get(f.path))) + "\n"
        for f in report.findings
    )


def summary(report: Report) -> str:
    """The closing line for humans on stderr: findings and the files they are in, or the
    files checked when there are none."""
    count = len(report.findings)
    if not count:
        files = "file" if report.files == 1 else "files"
        return f"All checks passed ({report.files} {files})."
    noun = "finding" if count == 1 else "findings"
    with_findings = len({f.path for f in report.findings})
    files = "file" if with_findings == 1 else "files"
    return f"Found {count} {noun} in {with_findings} {files}."


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


def _junit(report: Report) -> str:
    from nnlint.junit import junit  # noqa: PLC0415 - xml.etree only for this format

    return junit(report)


FORMATS: dict[str, Callable[[Report], str]] = {
    "concise": concise,
    "full": full,
    "json": as_json,
    "json-lines": json_lines,
    "github": github,
    "sarif": sarif,
    "junit": _junit,
}


def render(report: Report, fmt: str) -> str:
    return FORMATS[fmt](report)


class OutputError(Exception):
    """A report target nnlint will not write to (a folder)."""


def encoded(text: str, encoding: str) -> bytes:
    """The report's bytes in `encoding`: a file name that is not valid UTF-8 (decoded by
    Python with surrogate escapes) is written back as its original bytes; a character the
    encoding cannot carry (an ASCII terminal) as a backslash escape, never a crash."""
    try:
        return text.encode(encoding, errors="surrogateescape")
    except UnicodeEncodeError:
        return text.encode(encoding, errors="backslashreplace")


def write_output(text: str, target: Path | None) -> None:
    """Write the report to stdout or to `target`.

    A regular file (or a new one) is replaced through a temporary file in its folder and
    `os.replace`, so no reader ever sees half a report; through a symlink, the file it
    points to is replaced. Anything else that exists (`/dev/null`, `/dev/stdout`, a FIFO)
    is written in place, as a shell redirection would: replacing it would turn a device
    into a regular file. A folder is refused.
    """
    if target is None:
        _to_stdout(text)
        return
    if target.is_dir():
        raise OutputError("it is a folder")
    real = target.resolve() if target.is_symlink() else target
    if real.exists() and not real.is_file():
        with open(real, "wb") as out:
            out.write(encoded(text, "utf-8"))
        return
    real.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(encoded(text, "utf-8"))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _to_stdout(text: str) -> None:
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:  # a replaced sys.stdout (tests, IDEs) takes text
        stream.write(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
        return
    stream.flush()
    buffer.write(encoded(text, stream.encoding or "utf-8"))
    buffer.flush()
