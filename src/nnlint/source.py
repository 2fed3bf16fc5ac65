"""Read a file once and parse it once."""

from __future__ import annotations

import ast
import errno
import io
import os
import stat
import sys
import tokenize
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from nnlint.notebook import CellMap, NotebookError, notebook_source


@dataclass(frozen=True)
class SyntaxProblem:
    """Why a file could not be parsed, and where."""

    message: str
    line: int
    col: int


@dataclass(eq=False)
class SourceFile:
    """A Python file's text, its display path and, when it parses, its tree."""

    path: Path
    display: str
    text: str
    tree: ast.Module | None
    problem: SyntaxProblem | None
    cells: CellMap | None = None
    note: str | None = None

    @cached_property
    def lines(self) -> list[str]:
        """The text's lines, split once (findings ask for many)."""
        return self.text.splitlines()

    def line_text(self, line: int, cell: int | None = None) -> str:
        """The text of a (1-based) line, of the file or of a notebook cell."""
        if cell is not None and self.cells is not None:
            line = self.cells.global_line(cell, line)
        lines = self.lines
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def position(self, line: int, col: int) -> tuple[int | None, int, int]:
        """(cell, line, col) as reported: cell-relative in notebooks."""
        if self.cells is None:
            return None, line, col
        cell, cell_line = self.cells.locate(line)
        return cell, cell_line, col


def decode(data: bytes) -> str:
    """Decode Python source honouring a BOM or a PEP 263 coding line."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def parse(path: Path, display: str, text: str) -> SourceFile:
    """Parse `text`; a syntax error becomes a `SyntaxProblem` rather than an exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=display)
    except SyntaxError as error:
        if not error.msg.startswith("too many nested") and _newer_python(text):
            running = f"{sys.version_info.major}.{sys.version_info.minor}"
            note = f"{display}: uses syntax newer than Python {running}; not analysed"
            return SourceFile(path, display, text, None, None, note=note)
        line = error.lineno or 1
        col = max((error.offset or 1) - 1, 0)
        problem = SyntaxProblem(error.msg, line, col)
        return SourceFile(path, display, text, None, problem)
    except RecursionError:
        problem = SyntaxProblem("too deeply nested for Python's parser", 1, 0)
        return SourceFile(path, display, text, None, problem)
    except (ValueError, MemoryError) as error:
        return SourceFile(path, display, text, None, SyntaxProblem(str(error), 1, 0))
    return SourceFile(path, display, text, tree, None)


def _newer_python(text: str) -> bool:
    """True when code Python's own parser rejects is valid for a newer Python: libcst's
    parser knows later grammar (PEP 695 type parameters, PEP 701 f-strings, ...)."""
    import libcst  # noqa: PLC0415 - only on syntax errors: importing it costs more than parsing

    try:
        libcst.parse_module(text)
    except (libcst.ParserSyntaxError, RecursionError, ValueError):
        return False
    return True


# No source file is larger; a bigger read is a device or a generated file.
MAX_READ_BYTES = 4 * 1024 * 1024


class NotRegularFileError(OSError):
    """A path that is a FIFO, a device or a socket (or a link to one): never read."""


def read_bounded(path: Path, limit: int = MAX_READ_BYTES) -> bytes:
    """A regular file's bytes: a FIFO is not waited on and a device is not read (both
    NotRegularFileError), and at most `limit` bytes are read (OSError beyond)."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise NotRegularFileError(errno.EINVAL, "not a regular file", str(path))
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit >> 20} MiB", str(path))
    return data


def read_text(path: Path) -> tuple[str, CellMap | None]:
    """A file's Python text without parsing it (a notebook's code cells for `.ipynb`).

    Raises OSError when the file cannot be read and NotebookError for a broken notebook.
    """
    data = read_bounded(path)
    if path.suffix != ".ipynb":
        return decode(data), None
    return notebook_source(data.decode("utf-8-sig", errors="replace"))


def source_from_text(
    path: Path, display: str, text: str, cells: CellMap | None = None
) -> SourceFile:
    """Parse text that was already read."""
    source = parse(path, display, text)
    source.cells = cells
    return source


def read_source(path: Path, display: str) -> SourceFile:
    """Read and parse one file (a notebook's code cells for `.ipynb`)."""
    try:
        text, cells = read_text(path)
    except NotebookError as error:
        return SourceFile(path, display, "", None, SyntaxProblem(str(error), 1, 0))
    return source_from_text(path, display, text, cells)
