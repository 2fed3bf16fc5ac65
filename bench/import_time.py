"""How long nnlint spends importing modules: `nnlint --version` and a clean run on one small
file, measured with `python -X importtime`.

Usage: python bench/import_time.py [--runs N] [--top K]

For each command it sums the cumulative time of the modules imported after interpreter
start-up (everything after `site`), takes the best of N runs (default 5) and lists the K
slowest imports. `-X importtime` measures wall-clock time, which a loaded machine inflates,
so it also prints the command's CPU time (user + system) less that of a bare interpreter
(`python -c pass`): imports plus, for the lint, the work on one small file. A benchmark,
not a test: the numbers depend on the machine and its load. The goal is under 0.3 s for
both commands; libcst must not appear (only `--fix`, `--diff` and machine formats with
fixable findings import it).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

SMALL_FILE = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 2))

    def forward(self, x):
        return self.layers(x)
"""
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def imports(command: list[str], cwd: Path) -> list[tuple[str, int, int, int]]:
    """(module, self us, cumulative us, depth) for each import the command makes."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in result.stderr.splitlines():
        match = LINE.match(line)
        if match:
            found.append((match[4], int(match[1]), int(match[2]), len(match[3]) // 2))
    return found


def cpu_seconds(command: list[str], cwd: Path) -> float:
    """User + system CPU time of running `python *command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *command], cwd=cwd, capture_output=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def best_cpu(command: list[str], cwd: Path, runs: int) -> float:
    """The command's best CPU time over `runs`, less a bare interpreter's."""
    bare = min(cpu_seconds(["-c", "pass"], cwd) for _ in range(runs))
    return min(cpu_seconds(command, cwd) for _ in range(runs)) - bare


def after_startup(found: list[tuple[str, int, int, int]]) -> list[tuple[str, int, int, int]]:
    """The imports after `site` (interpreter start-up) finished."""
    names = [name for name, *_ in found]
    start = names.index("site") + 1 if "site" in names else 0
    return found[start:]


def measure(
    command: list[str], cwd: Path, runs: int
) -> tuple[int, list[tuple[str, int, int, int]]]:
    """The best total (microseconds) over `runs` and the imports of that run."""
    best: tuple[int, list] | None = None
    for _ in range(runs):
        found = after_startup(imports(command, cwd))
        total = sum(cumulative for _, _, cumulative, depth in found if depth == 0)
        if best is None or total < best[0]:
            best = (total, found)
    assert best is not None
    return best


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")
        (cwd / "model.py").write_text(SMALL_FILE, encoding="utf-8")
        commands = {
            "nnlint --version": ["-m", "nnlint", "--version"],
            "nnlint --no-cache model.py": ["-m", "nnlint", "--no-cache", "model.py"],
        }
        worst = 0
        for label, command in commands.items():
            total, found = measure(command, cwd, args.runs)
            worst = max(worst, total)
            libcst = any(name == "libcst" for name, *_ in found)
            cpu = best_cpu(command, cwd, args.runs)
            print(
                f"{label}: {total / 1e6:.3f} s of imports (best of {args.runs}); "
                f"{cpu:.3f} s of CPU beyond a bare interpreter"
                f"{'; imports libcst!' if libcst else ''}"
            )
            top = sorted((f for f in found if f[3] <= 1), key=lambda f: -f[2])[: args.top]
            for name, _, cumulative, _ in top:
                print(f"  {cumulative / 1e3:8.1f} ms  {name}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"goal: under 0.300 s of imports: {'met' if worst < 300_000 else 'not met'}")
    print(f"load average {load:.1f} on {os.cpu_count()} cores while measuring")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
