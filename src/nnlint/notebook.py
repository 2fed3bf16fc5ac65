"""Jupyter notebooks: lint the code cells joined in order, report positions per cell."""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass


class NotebookError(ValueError):
    """The file is not a notebook nnlint can read."""


@dataclass(frozen=True)
class CellMap:
    """Where each code cell starts in the joined text: (first line, cell number), 1-based."""

    starts: tuple[tuple[int, int], ...]

    def locate(self, line: int) -> tuple[int, int]:
        """Map a line of the joined text to (cell number, line within the cell)."""
        index = bisect_right([start for start, _ in self.starts], line) - 1
        start, cell = self.starts[max(index, 0)]
        return cell, line - start + 1

    def global_line(self, cell: int, line: int) -> int:
        """The line of the joined text for a line of a cell."""
        for start, number in self.starts:
            if number == cell:
                return start + line - 1
        return line


def _is_magic(line: str) -> bool:
    """IPython magics (`%time`), shell escapes (`!pip`) and help (`x?`) are not Python."""
    stripped = line.strip()
    return stripped.startswith(("%", "!")) or (stripped.endswith("?") and "#" not in stripped)


def notebook_source(data: str) -> tuple[str, CellMap]:
    """The Python text of a notebook's code cells and where each cell starts in it.

    Magic and shell lines become blank lines so line numbers stay those of the cell; a cell
    magic (`%%bash`) blanks its whole cell.
    """
    try:
        document = json.loads(data)
        cells = document["cells"]
    except (ValueError, KeyError, TypeError) as error:
        raise NotebookError(f"not a Jupyter notebook: {error}") from error
    if not isinstance(cells, list):
        raise NotebookError("not a Jupyter notebook: `cells` is not a list")
    lines: list[str] = []
    starts: list[tuple[int, int]] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        cell_lines = text.splitlines() or [""]
        whole_cell_magic = cell_lines[0].lstrip().startswith("%%")
        starts.append((len(lines) + 1, number))
        lines.extend("" if whole_cell_magic or _is_magic(x) else x for x in cell_lines)
    return "\n".join(lines) + "\n", CellMap(tuple(starts))
