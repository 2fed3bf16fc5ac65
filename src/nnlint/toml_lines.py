"""Which line of a pyproject.toml holds a key, for config errors that name their line.

`tomllib` keeps no positions, so this reads the text itself, just enough for the shapes
`[tool.nnlint]` is written in: tables (`[tool.nnlint.per-file-ignores]`), `key = value`
lines, inline tables and arrays spread over lines.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_.\-"' ]+?)\s*=""")


def _dotted(text: str) -> list[str]:
    """`tool.nnlint."per-file-ignores"` -> ["tool", "nnlint", "per-file-ignores"]."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s]+)', text)
    return [next(p for p in part if p) if any(part) else "" for part in parts]


def key_line(text: str, path: list[str | int]) -> int | None:
    """The 1-based line of the deepest part of `path` (below `tool.nnlint`) found in
    `text`: the key's line, an array item's line, else the table's header line."""
    wanted = ["tool", "nnlint", *[p for p in path if isinstance(p, str)]]
    table: list[str] = []
    best: int | None = None
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("[["):
            table = _dotted(header[1])
            if len(table) >= 2 and wanted[: len(table)] == table:
                best = number
            continue
        key = _KEY.match(line)
        full = [*table, *_dotted(key[1])] if key else []
        if key and len(full) > 2 and wanted[: len(full)] == full:
            best = number
            item = next((p for p in path[len(full) - 2 :] if isinstance(p, int)), None)
            if item is not None:
                best = _item_line(lines, number, line[key.end() :], item) or number
    return best


def _item_line(lines: list[str], start: int, rest: str, index: int) -> int | None:
    """The line of the `index`-th string of an array that starts after `=` on `start`."""
    seen = 0
    for number in range(start, len(lines) + 1):
        chunk = rest if number == start else lines[number - 1]
        for _ in re.finditer(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|\b(?:true|false|\d[\w.+-]*)', chunk):
            if seen == index:
                return number
            seen += 1
        if "]" in chunk.split("#", 1)[0]:
            return None
    return None
