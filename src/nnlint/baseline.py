"""Baselines: record today's findings, then report only new ones.

A finding is identified by its file, code and the text of its line (whitespace-trimmed),
plus how many identical ones come before it in the file, not by its line number, so the
baseline survives edits that only move code up or down.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from nnlint.findings import Finding

VERSION = 1


class BaselineError(Exception):
    """A baseline file that cannot be read."""


def _fingerprints(
    findings: Iterable[Finding], line_text: Callable[[Finding], str], base: Path
) -> list[str]:
    seen: Counter[tuple[str, str, str]] = Counter()
    prints = []
    for finding in sorted(findings):
        path = Path(os.path.relpath(Path(finding.path).resolve(), base.resolve())).as_posix()
        key = (path, finding.code, " ".join(line_text(finding).split()))
        prints.append(hashlib.sha256(f"{key}|{seen[key]}".encode()).hexdigest()[:20])
        seen[key] += 1
    return prints


def write_baseline(
    file: Path, findings: list[Finding], line_text: Callable[[Finding], str]
) -> None:
    """Record the findings in `file` (written atomically)."""
    prints = _fingerprints(findings, line_text, file.parent)
    items = [
        {"fingerprint": p, "path": f.path, "code": f.code, "message": f.message}
        for p, f in zip(prints, sorted(findings), strict=True)
    ]
    text = json.dumps({"version": VERSION, "findings": items}, indent=2) + "\n"
    folder = file.parent if str(file.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, file)


def new_findings(
    file: Path, findings: list[Finding], line_text: Callable[[Finding], str]
) -> list[Finding]:
    """The findings that are not recorded in the baseline `file`."""
    try:
        data = json.loads(file.read_text("utf-8"))
        known = Counter(item["fingerprint"] for item in data["findings"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BaselineError(f"{file}: cannot read baseline: {error}") from error
    ordered = sorted(findings)
    fresh = []
    for finding, print_ in zip(
        ordered, _fingerprints(ordered, line_text, file.parent), strict=True
    ):
        if known[print_] > 0:
            known[print_] -= 1
        else:
            fresh.append(finding)
    return fresh
