"""Jupyter notebooks: lint the code cells joined in order, report positions per cell."""

from __future__ import annotations

import difflib
import json
import re
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


def _cell_lines(cell: dict) -> list[str]:
    source = cell.get("source", "")
    text = "".join(source) if isinstance(source, list) else str(source)
    return text.splitlines() or [""]


def _set_source(cell: dict, lines: list[str]) -> None:
    """Give a cell these lines, in the form its source had (a list of lines ending in a
    newline, or one string), keeping whether it ended with a newline."""
    source = cell.get("source", "")
    old = "".join(source) if isinstance(source, list) else str(source)
    text = "\n".join(lines) + ("\n" if old.endswith("\n") else "")
    cell["source"] = text.splitlines(keepends=True) if isinstance(source, list) else text


def with_fixed_code(data: str, cells: CellMap, old: str, new: str) -> str:
    """The notebook `data` with its code cells rewritten to match `new`, a fixed version of
    its joined code `old` (from `notebook_source`). Outputs, metadata and other cells are
    kept, and so are magic lines the fix did not touch; the JSON keeps its indentation.
    Raises NotebookError when a change would span two cells."""
    document = json.loads(data)
    by_number = dict(enumerate(document["cells"], start=1))
    old_lines, new_lines = old.splitlines(), new.splitlines()
    rebuilt: dict[int, list[str]] = {number: [] for _, number in cells.starts}
    first = cells.starts[0][1]
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for index in range(i1, i2):
                number, line = cells.locate(index + 1)
                rebuilt[number].append(_cell_lines(by_number[number])[line - 1])
            continue
        # a change belongs to the cell of its first line; an insertion, to the line before
        number = cells.locate(i1 + 1 if i2 > i1 else i1)[0] if i1 or i2 > i1 else first
        if i2 > i1 and cells.locate(i2)[0] != number:
            raise NotebookError("a fix would change two cells at once")
        rebuilt[number].extend(new_lines[j1:j2])
    for number, lines in rebuilt.items():
        if lines != _cell_lines(by_number[number]):
            _set_source(by_number[number], lines)
    indent = re.match(r"\{\r?\n( +)\"", data)
    text = json.dumps(document, indent=len(indent[1]) if indent else 1, ensure_ascii=False)
    return text + ("\n" if data.endswith("\n") else "")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{4}|.)")


class _Scanner:
    """Finds where each string of the cells' `source` lies in a notebook's JSON text."""

    def __init__(self, data: str) -> None:
        self.data, self.at = data, 0
        self.found: dict[tuple[int, int], int] = {}  # (cell, item) -> offset of the string

    def _skip(self) -> None:
        while self.at < len(self.data) and self.data[self.at] in " \t\r\n":
            self.at += 1

    def value(self, path: tuple) -> None:
        self._skip()
        char = self.data[self.at]
        if char == "{":
            self._members(path)
        elif char == "[":
            self._items(path)
        elif char == '"':
            self._string(path)
        else:
            match = re.compile(r"[^,\]}\s]+").match(self.data, self.at)
            if match is None:
                raise ValueError(f"unexpected {char!r}")
            self.at = match.end()

    def _string(self, path: tuple) -> str:
        match = _STRING.match(self.data, self.at)
        if match is None:
            raise ValueError("unterminated string")
        if len(path) == 4 and path[0] == "cells" and path[2] == "source":
            self.found[(path[1] + 1, path[3])] = self.at
        elif len(path) == 3 and path[0] == "cells" and path[2] == "source":
            self.found[(path[1] + 1, 0)] = self.at
        self.at = match.end()
        return json.loads(match[0])

    def _members(self, path: tuple) -> None:
        self.at += 1
        self._skip()
        while self.data[self.at] != "}":
            key = self._string(())
            self._skip()
            self.at += 1  # the colon
            self.value((*path, key) if len(path) < 4 else path)
            self._skip()
            if self.data[self.at] == ",":
                self.at += 1
                self._skip()
        self.at += 1

    def _items(self, path: tuple) -> None:
        self.at += 1
        self._skip()
        index = 0
        while self.data[self.at] != "]":
            self.value((*path, index) if len(path) < 4 else path)
            index += 1
            self._skip()
            if self.data[self.at] == ",":
                self.at += 1
                self._skip()
        self.at += 1


def _raw_offsets(token: str) -> list[int]:
    """For each character a JSON string token decodes to, its offset in the token."""
    offsets, at = [], 1
    while at < len(token) - 1:
        escape = _ESCAPE.match(token, at)
        step = len(escape[0]) if escape else 1
        offsets.append(at)
        at += step
    offsets.append(at)  # one past the last character
    return offsets


@dataclass(frozen=True)
class JsonPositions:
    """Where the code of a notebook's cells lies in its JSON text, for reports (GitHub
    annotations, SARIF) that must point into the `.ipynb` file itself."""

    data: str
    # (cell, line in the cell) -> (offset of the JSON string, its character offsets, index
    # of the line's first character in the decoded string)
    lines: dict[tuple[int, int], tuple[int, list[int], int]]
    line_starts: list[int]

    def find(self, cell: int, line: int, col: int) -> tuple[int, int] | None:
        """The file's (1-based line, 0-based column) of a cell's line and column."""
        found = self.lines.get((cell, line))
        if found is None:
            return None
        offset, raw, first = found
        at = offset + raw[min(first + col, len(raw) - 1)]
        row = bisect_right(self.line_starts, at)
        return row, at - self.line_starts[row - 1]


def json_positions(data: str) -> JsonPositions | None:
    """The positions of a notebook's cell code in its JSON text (None when it is not a
    notebook that this can read)."""
    scanner = _Scanner(data)
    try:
        scanner.value(())
    except (ValueError, IndexError, RecursionError):
        return None
    lines: dict[tuple[int, int], tuple[int, list[int], int]] = {}
    cell, line, at_start = 0, 0, True
    for (number, _), offset in sorted(scanner.found.items()):
        if number != cell:
            cell, line, at_start = number, 0, True
        match = _STRING.match(data, offset)
        if match is None:
            continue
        text, raw = json.loads(match[0]), _raw_offsets(match[0])
        for index, char in enumerate(text):
            if at_start:
                line += 1
                lines[(cell, line)] = (offset, raw, index)
                at_start = False
            at_start = char == "\n"
    starts = [0, *(m.end() for m in re.finditer("\n", data))]
    return JsonPositions(data, lines, starts)
