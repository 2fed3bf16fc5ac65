"""Time nnlint on a folder against the floor of parsing it with `ast`.

Usage: python bench/speed.py [FOLDER ...]   (default: fixtures/)

Prints files, lines, the best of three runs for `ast.parse` alone and for the whole nnlint
pipeline, and lines per second. A benchmark, not a test: numbers depend on the machine.
"""

from __future__ import annotations

import ast
import contextlib
import sys
import time
from pathlib import Path

from nnlint.config import Settings
from nnlint.engine import lint

ROUNDS = 3


def best_of(action) -> float:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str]) -> int:
    folders = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent / "fixtures"]
    files = [f for folder in folders for f in sorted(folder.rglob("*.py"))]
    texts = [f.read_text("utf-8", errors="replace") for f in files]
    lines = sum(t.count("\n") for t in texts)

    def parse_all() -> None:
        for text in texts:
            with contextlib.suppress(SyntaxError):
                ast.parse(text)

    parse = best_of(parse_all)
    settings = Settings(respect_gitignore=False)
    full = best_of(lambda: lint(folders, settings))
    print(f"files            {len(files)}")
    print(f"lines            {lines}")
    print(f"ast.parse only   {parse:.3f} s  ({lines / parse:,.0f} lines/s)")
    print(f"nnlint           {full:.3f} s  ({lines / full:,.0f} lines/s)")
    print(f"nnlint / parse   {full / parse:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
