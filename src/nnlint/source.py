"""Read a file once and parse it once."""

from __future__ import annotations

import ast
import io
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path


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

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


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
        line = error.lineno or 1
        col = max((error.offset or 1) - 1, 0)
        problem = SyntaxProblem(error.msg, line, col)
        return SourceFile(path, display, text, None, problem)
    except (ValueError, RecursionError, MemoryError) as error:
        return SourceFile(path, display, text, None, SyntaxProblem(str(error), 1, 0))
    return SourceFile(path, display, text, tree, None)


def read_source(path: Path, display: str) -> SourceFile:
    """Read and parse one file."""
    return parse(path, display, decode(path.read_bytes()))
