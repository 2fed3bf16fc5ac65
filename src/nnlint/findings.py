"""Findings: what a rule reports, where."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at `path:line:col` (line 1-based, col 0-based as in `ast`)."""

    path: str
    line: int
    col: int
    code: str
    message: str
    severity: str = "warning"
    help: str = ""
    end_line: int | None = None
