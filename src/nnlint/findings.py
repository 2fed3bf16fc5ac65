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

    @property
    def text(self) -> str:
        """What is wrong and what to do instead, in one sentence."""
        return f"{self.message}; {self.help}" if self.help else self.message
