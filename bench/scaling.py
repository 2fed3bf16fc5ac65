"""Scaling benchmark: nnlint's time should grow linearly with the networks in one file and
with the size of `per-file-ignores`.

    nice -n 19 python bench/scaling.py

Each case is a fresh `nnlint --no-cache --no-respect-gitignore -j 1` process on input
generated in bench/.work/ (which git ignores, hence the option), timed as the best of two
runs, less the time of the same case at size 0 (start-up, imports). It prints, per size,
the seconds and the milliseconds per unit: a per-unit time that stays flat as the size
doubles is linear, one that doubles is quadratic. A benchmark, not a test: the numbers
depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work" / "scaling"
NETWORKS = (1500, 3000, 6000, 12000)
GLOBS = (2500, 5000, 10000, 20000)
FILES_WITH_FINDINGS = 5
FINDINGS_PER_FILE = 20


def networks_case(count: int) -> Path:
    """One file defining `count` small Sequentials."""
    folder = WORK / f"networks_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text("[project]\nname = 'scaling'\n", encoding="utf-8")
    lines = [
        f"m{i} = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))\n" for i in range(count)
    ]
    (folder / "models.py").write_text("import torch.nn as nn\n" + "".join(lines), "utf-8")
    return folder


def globs_case(count: int) -> Path:
    """`count` per-file-ignores globs (none matching) and a few files with findings."""
    folder = WORK / f"globs_{count}"
    folder.mkdir(parents=True, exist_ok=True)
    table = "".join(f'"data/run{i}/*.py" = ["NN101"]\n' for i in range(count))
    (folder / "pyproject.toml").write_text(
        f"[project]\nname = 'scaling'\n\n[tool.nnlint.per-file-ignores]\n{table}", "utf-8"
    )
    body = "".join(
        f"m{i} = nn.Sequential(nn.Linear(4, 4), nn.Sigmoid(), nn.Linear(4, 4))\n"
        for i in range(FINDINGS_PER_FILE)
    )
    for index in range(FILES_WITH_FINDINGS):
        (folder / f"train{index}.py").write_text("import torch.nn as nn\n" + body, "utf-8")
    return folder


def timed(folder: Path) -> float:
    command = [
        sys.executable,
        "-m",
        "nnlint",
        "--no-cache",
        "--no-respect-gitignore",
        "-j",
        "1",
        ".",
    ]
    best = float("inf")
    for _ in range(2):
        start = time.perf_counter()
        subprocess.run(command, cwd=folder, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def report(title: str, unit: str, sizes: tuple[int, ...], make) -> None:
    base = timed(make(0))
    print(f"{title} (size 0: {base:.2f} s)\n{'size':>8} {'seconds':>9} {'ms per ' + unit:>16}")
    for size in sizes:
        seconds = timed(make(size)) - base
        print(f"{size:>8} {seconds:>9.2f} {1000 * seconds / size:>16.3f}", flush=True)


def main() -> int:
    report("networks in one file", "network", NETWORKS, networks_case)
    report("per-file-ignores globs", "glob", GLOBS, globs_case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
