"""`# noqa: NN101` on a line and `# nnlint: noqa` for a whole file."""

from __future__ import annotations

import re

_LINE = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+\d+(?:[\s,]+[A-Z]+\d+)*))?", re.IGNORECASE)
_FILE = re.compile(r"^\s*#\s*nnlint:\s*noqa\s*$", re.IGNORECASE | re.MULTILINE)


def file_exempt(text: str) -> bool:
    """True when the file opts out with a `# nnlint: noqa` line."""
    return _FILE.search(text) is not None


def suppressed(line_text: str, code: str) -> bool:
    """True when the line's noqa comment covers `code` (a bare `# noqa` covers all)."""
    for match in _LINE.finditer(line_text):
        codes = match.group("codes")
        if codes is None:
            return True
        if code.upper() in {c.upper() for c in re.split(r"[\s,]+", codes) if c}:
            return True
    return False
