"""Findings: what a rule reports, where."""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

SEVERITIES = ("error", "warning", "info")


@total_ordering
@dataclass(frozen=True)
class Finding:
    """One problem at `path:line:col` (line 1-based, col 0-based as in `ast`), spanning to
    `end_line:end_col` (0: unknown, the start). Findings sort by path, cell, line, column.

    In a notebook, `cell` is the 1-based code cell and `line` counts from the cell's top.
    """

    path: str
    line: int
    col: int
    code: str
    message: str
    severity: str = "warning"
    help: str = ""
    cell: int | None = None
    related: tuple[tuple[int, int], ...] = ()  # (line, col) of other places a fix changes
    end_line: int = 0
    end_col: int = 0

    def _key(self) -> tuple:
        return (
            self.path,
            self.cell or 0,
            self.line,
            self.col,
            self.code,
            self.message,
            self.severity,
            self.help,
            self.related,
            self.end_line,
            self.end_col,
        )

    def __lt__(self, other: Finding) -> bool:
        return self._key() < other._key()

    @property
    def location(self) -> str:
        """`path:line:col` or `notebook.ipynb:cell 3:line:col`, with a 1-based column."""
        cell = f"cell {self.cell}:" if self.cell is not None else ""
        return f"{self.path}:{cell}{self.line}:{self.col + 1}"

    @property
    def text(self) -> str:
        """What is wrong and what to do instead, in one sentence."""
        return f"{self.message}; {self.help}" if self.help else self.message
