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


def _as_python(magic: str) -> str:
    """A magic line as a no-op at its indentation, so a block whose body is `!pip install`
    stays a block."""
    return magic[: len(magic) - len(magic.lstrip())] + "pass"


def notebook_source(data: str) -> tuple[str, CellMap]:
    """The Python text of a notebook's code cells and where each cell starts in it.

    Magic and shell lines become `pass` so line numbers stay those of the cell; a cell magic
    (`%%bash`) blanks its whole cell.
    """
    try:
        document = json.loads(data)
        cells = document["cells"]
    except (ValueError, KeyError, TypeError) as error:
        raise NotebookError(f"not a Jupyter notebook: {error}") from error
    except RecursionError as error:
        raise NotebookError("not a Jupyter notebook: nested too deeply") from error
    if not isinstance(cells, list):
        raise NotebookError("not a Jupyter notebook: `cells` is not a list")
    lines: list[str] = []
    starts: list[tuple[int, int]] = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        text = _cell_text(cell.get("source", ""), number)
        cell_lines = text.splitlines() or [""]
        whole_cell_magic = cell_lines[0].lstrip().startswith("%%")
        starts.append((len(lines) + 1, number))
        lines.extend(
            "" if whole_cell_magic else _as_python(x) if _is_magic(x) else x for x in cell_lines
        )
    return "\n".join(lines) + "\n", CellMap(tuple(starts))


def _cell_text(source: object, number: int) -> str:
    """A cell's source: a string or a list of strings (nbformat); anything else is a
    broken notebook."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(part, str) for part in source):
        return "".join(source)
    raise NotebookError(f"not a Jupyter notebook: cell {number}'s source is not text")
