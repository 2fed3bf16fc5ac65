"""Read the findings written on fixture lines: `# error: NN102, warning: NN101`.

Python and YAML fixtures carry them in comments on the offending line; JSON has no
comments, so `name.json` lists its findings in `name.json.expected`, one `line:code:severity`
per line.
"""

from __future__ import annotations

import re
from pathlib import Path

ANNOTATION = re.compile(r"\b(error|warning|info):\s*(NN\d{3})\b")
SIDECAR = re.compile(r"^(\d+):(NN\d{3}):(error|warning|info)$")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
COMMENTED = ("*.py", "*.yaml", "*.yml")

Expected = set[tuple[str, int, str, str]]


def expected_findings(root: Path = FIXTURES) -> Expected:
    """(path relative to `root`, line, code, severity) for every annotation under `root`."""
    expected: Expected = set()
    for pattern in COMMENTED:
        for path in sorted(root.rglob(pattern)):
            text = path.read_text("utf-8", errors="replace")
            for number, line in enumerate(text.splitlines(), start=1):
                comment = line.partition("#")[2]
                for severity, code in ANNOTATION.findall(comment):
                    expected.add((path.relative_to(root).as_posix(), number, code, severity))
    for sidecar in sorted(root.rglob("*.json.expected")):
        name = sidecar.relative_to(root).as_posix().removesuffix(".expected")
        for line in sidecar.read_text("utf-8").split():
            match = SIDECAR.match(line)
            assert match, f"{sidecar}: bad line {line!r}; write line:code:severity"
            expected.add((name, int(match[1]), match[2], match[3]))
    return expected
