"""The text edits of each finding's fix, for machine formats (ruff's JSON `fix.edits`,
SARIF `fixes`): the fix is applied in memory, one finding at a time, and the change is read
back as whole-line replacements. Only computed when a report has fixable findings, since
fixing imports libcst."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from nnlint.findings import Finding
from nnlint.fixable import fixer_for
from nnlint.notebook import NotebookError, notebook_source

_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+\d+(?:,\d+)? @@")


@dataclass(frozen=True)
class Edit:
    """Replace lines `row` up to (not including) `end_row` with `content` (1-based rows;
    in a notebook, rows of the finding's cell)."""

    row: int
    end_row: int
    content: str


def edits_from_diff(diff: str) -> list[Edit]:
    """The replacements a unified diff makes, one per run of removed and added lines."""
    edits: list[Edit] = []
    old_line, removed, added = 0, 0, []

    def close() -> None:
        nonlocal removed, added
        if removed or added:
            start = old_line - removed
            edits.append(Edit(start, start + removed, "".join(added)))
        removed, added = 0, []

    for line in diff.splitlines(keepends=True):
        hunk = _HUNK.match(line)
        if hunk:
            close()
            old_line = int(hunk[1])
        elif line.startswith(("---", "+++")) and not old_line:
            continue
        elif line.startswith("-"):
            removed += 1
            old_line += 1
        elif line.startswith("+"):
            added.append(line[1:] if line.endswith("\n") else line[1:] + "\n")
        elif line.startswith(" "):
            close()
            old_line += 1
    close()
    return edits


def fix_edits(findings: list[Finding]) -> dict[Finding, list[Edit]]:
    """The edits of each fixable finding's fix (safe and unsafe alike)."""
    fixable = [f for f in findings if fixer_for(f) is not None]
    if not fixable:
        return {}
    from nnlint.fixes import apply_fixes  # noqa: PLC0415 - libcst only when there are fixes

    found: dict[Finding, list[Edit]] = {}
    for finding in fixable:
        outcome = apply_fixes([finding], unsafe=True, write=False)
        edits = edits_from_diff("".join(outcome.diffs))
        if finding.cell is not None:
            edits = _in_cell(finding, edits)
        if edits:
            found[finding] = edits
    return found


def _in_cell(finding: Finding, edits: list[Edit]) -> list[Edit]:
    """Edits of a notebook's joined code, as rows of the finding's cell (none when an edit
    falls in another cell)."""
    try:
        _, cells = notebook_source(Path(finding.path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, NotebookError):
        return []
    placed = []
    for edit in edits:
        cell, row = cells.locate(edit.row)
        if cell != finding.cell:
            return []
        placed.append(Edit(row, row + edit.end_row - edit.row, edit.content))
    return placed
