"""Read the findings written on fixture lines: `# error: NN102, warning: NN101`."""

from __future__ import annotations

import re
from pathlib import Path

ANNOTATION = re.compile(r"\b(error|warning|info):\s*(NN\d{3})\b")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

Expected = set[tuple[str, int, str, str]]


def expected_findings(root: Path = FIXTURES) -> Expected:
    """(path relative to `root`, line, code, severity) for every annotation under `root`."""
    expected: Expected = set()
    for path in sorted(root.rglob("*.py")):
        text = path.read_text("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            comment = line.partition("#")[2]
            for severity, code in ANNOTATION.findall(comment):
                expected.add((path.relative_to(root).as_posix(), number, code, severity))
    return expected
