"""Suppression comments: `# noqa: NN101` on a line, `# nnlint: noqa` (optionally with codes)
for a whole file.

Comments are found with `tokenize`, so `"# noqa"` inside a string suppresses nothing. Text
that does not tokenize (a syntax error, a YAML config) falls back to a `#` outside quotes
on each line. Codes of other tools (`# noqa: E501, NN101`) are allowed beside nnlint's.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from functools import lru_cache

_LINE = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+\d+(?:[\s,]+[A-Z]+\d+)*))?", re.IGNORECASE)
_FILE = re.compile(
    r"^#\s*nnlint:\s*noqa(?::\s*(?P<codes>[A-Z]+\d+(?:[\s,]+[A-Z]+\d+)*))?\s*$", re.IGNORECASE
)
_CODE = re.compile(r"[A-Z]+\d+", re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    """One noqa comment: where it is and the codes it names (None: a bare `# noqa`)."""

    line: int
    col: int
    codes: tuple[str, ...] | None

    def covers(self, code: str) -> bool:
        return self.codes is None or code.upper() in self.codes


@dataclass(frozen=True)
class Directives:
    """A file's noqa comments: per line, and the file-level ones (own-line comments)."""

    lines: dict[int, Directive]
    files: tuple[Directive, ...]

    def file_covers(self, code: str) -> bool:
        return any(d.covers(code) for d in self.files)

    def line_covers(self, line: int, code: str) -> Directive | None:
        """The directive on `line` that suppresses `code`, if any."""
        directive = self.lines.get(line)
        return directive if directive is not None and directive.covers(code) else None

    def all(self) -> list[Directive]:
        return [*self.files, *self.lines.values()]


def _codes(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(c.upper() for c in _CODE.findall(text))


def _comments(text: str) -> list[tuple[int, int, str, bool]]:
    """(line, col, comment, alone on its line) for each comment of Python text; a naive
    scan when the text does not tokenize."""
    try:
        found = []
        seen: set[int] = set()  # lines that already have a token before this one
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                continue
            line, col = token.start
            if token.type == tokenize.COMMENT:
                found.append((line, col, token.string, line not in seen))
            seen.update(range(line, token.end[0] + 1))
        return found
    except (tokenize.TokenError, SyntaxError, ValueError):
        return _naive_comments(text)


def _naive_comments(text: str) -> list[tuple[int, int, str, bool]]:
    """Comments as the first `#` outside single- or double-quoted strings on each line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        quote = None
        for col, char in enumerate(line):
            if quote:
                quote = None if char == quote else quote
            elif char in "\"'":
                quote = char
            elif char == "#":
                found.append((number, col, line[col:], not line[:col].strip()))
                break
    return found


@lru_cache(maxsize=32)
def directives(text: str, python: bool = True) -> Directives:
    """The noqa directives of a file's text (`python=False`: YAML/JSON, scanned naively)."""
    comments = _comments(text) if python else _naive_comments(text)
    lines: dict[int, Directive] = {}
    files: list[Directive] = []
    for line, col, comment, alone in comments:
        whole = _FILE.match(comment.strip())
        if whole:
            if alone:
                files.append(Directive(line, col, _codes(whole["codes"])))
            continue
        match = _LINE.search(comment)
        if match and line not in lines:
            lines[line] = Directive(line, col + match.start(), _codes(match["codes"]))
    return Directives(lines, tuple(files))


def file_exempt(text: str) -> bool:
    """True when the file opts out of every rule with a `# nnlint: noqa` line."""
    return any(d.codes is None for d in directives(text).files)


def suppressed(line_text: str, code: str) -> bool:
    """True when a line's noqa comment covers `code` (a bare `# noqa` covers all)."""
    directive = directives(line_text).lines.get(1)
    return directive is not None and directive.covers(code)


def unknown_codes(found: Directives, known: frozenset[str]) -> list[tuple[Directive, str]]:
    """nnlint codes (`NN` + digits) in noqa comments that name no rule: a typo that
    suppresses nothing. Other tools' codes are left alone."""
    return [
        (d, code)
        for d in found.all()
        for code in d.codes or ()
        if code.startswith("NN") and code not in known
    ]


def unused(
    found: Directives, used: set[tuple[int, str]], checked: frozenset[str], static: frozenset[str]
) -> list[tuple[Directive, str]]:
    """Line directives with nnlint codes that suppressed nothing, and what to say: codes of
    rules that ran (`checked`) with no finding on the line, and, as ruff reports
    "non-enabled" codes, codes of static rules this run did not select. A bare `# noqa`
    (it may be another tool's), other tools' codes and the probe's are never judged."""
    out = []
    for directive in found.lines.values():
        codes_used = {code for line, code in used if line == directive.line}
        idle = [c for c in directive.codes or () if c in checked and c not in codes_used]
        off = [c for c in directive.codes or () if c in static and c not in checked]
        if idle or off:
            codes = [*idle, *(f"{c} (not selected)" for c in off)]
            plural = "s" * (len(codes) > 1)
            out.append((directive, f"unused `noqa` code{plural}: {', '.join(codes)}"))
    return out
