"""Crash hunt: run nnlint with every rule, and its fixers, over large real packages.

    nice -n 19 python bench/crash_hunt.py [--packages torch,keras,...] [--timeout S]

Corpus: the installed torch, lightning and transformers (their site-packages folders) and
the keras and timm wheels, downloaded once with `pip download --no-deps` into bench/.work/
and unpacked there. Every Python file, notebook and YAML/JSON file is named explicitly (so
the ML-import pre-filter skips none), in batches of BATCH files, each batch one fresh
process: `--select ALL` (the analysis), then `--select ALL --diff --unsafe-fixes` (the
fixers, writing nothing) on the files that got a finding of a rule with a fix. It prints
per package and in total: runs, files, findings, fixes, internal errors (NN002 findings
and "internal error" lines) and runs lost (a traceback, an exit code other than 0/1/2,
unreadable JSON or a timeout), then each problem.
Not a test and not in CI: it takes long.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

WORK = Path(__file__).resolve().parent / ".work"
INSTALLED = ("torch", "lightning", "transformers")
WHEELS = ("keras", "timm")
SUFFIXES = frozenset({".py", ".pyi", ".ipynb", ".json", ".yaml", ".yml"})
BATCH = 300
FIXED_RULES = frozenset({"NN102", "NN110", "NN202", "NN303", "NN402"})


@dataclass
class Totals:
    runs: int = 0
    files: int = 0
    findings: int = 0
    fixes: int = 0
    internal_errors: int = 0
    runs_lost: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Totals) -> None:
        for name in ("runs", "files", "findings", "fixes", "internal_errors", "runs_lost"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)


def package_folder(name: str) -> Path:
    """An installed package's folder, or a wheel's (downloaded and unpacked once)."""
    if name in INSTALLED:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise SystemExit(f"{name} is not installed")
        return Path(spec.origin).parent
    folder = WORK / "hunt" / name
    if not folder.exists():
        wheels = WORK / "wheels"
        if not list(wheels.glob(f"{name}-*.whl")):
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", wheels, name],
                check=True,
            )
        with zipfile.ZipFile(next(wheels.glob(f"{name}-*.whl"))) as archive:
            archive.extractall(folder)
    return folder


def batches(folder: Path) -> list[list[Path]]:
    """The package's lintable files, sorted, in batches of BATCH."""
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file() and not p.is_symlink()
    )
    return [files[i : i + BATCH] for i in range(0, len(files), BATCH)]


def run_once(paths: list[Path], extra: list[str], timeout: float) -> tuple[Totals, set[Path]]:
    """One nnlint process over `paths`: what it found, whether it was lost, and the files
    with a finding of a rule that has a fix."""
    command = [
        sys.executable,
        "-m",
        "nnlint",
        "--select",
        "ALL",
        "--no-cache",
        "--no-respect-gitignore",
        "--exit-zero",
        "-j",
        "1",
        "--output-format",
        "json",
        *extra,
        *map(str, paths),
    ]
    totals = Totals(runs=1)
    label = f"{' '.join(extra) or 'lint'} {paths[0]} (+{len(paths) - 1})"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        totals.runs_lost = 1
        totals.problems.append(f"{label}: timed out after {timeout:.0f} s")
        return totals, set()
    errors = [line for line in done.stderr.splitlines() if "internal error" in line]
    totals.internal_errors = len(errors)
    totals.problems.extend(f"{label}: {line[:200]}" for line in errors[:5])
    if "Traceback (most recent call last)" in done.stderr and not errors:
        totals.runs_lost = 1
        totals.problems.append(f"{label}: traceback: {done.stderr.strip().splitlines()[-1]}")
    if done.returncode not in (0, 1, 2):
        totals.runs_lost = 1
        totals.problems.append(f"{label}: exit {done.returncode}")
    if "--diff" in extra:
        for line in done.stderr.splitlines():
            if line.startswith("nnlint: would fix "):
                totals.fixes = int(line.split()[3])
        return totals, set()
    try:
        findings = json.loads(done.stdout)
    except ValueError:
        totals.runs_lost = 1
        totals.problems.append(f"{label}: output is not JSON (exit {done.returncode})")
        return totals, set()
    totals.findings = len(findings)
    totals.files = len(paths)
    totals.internal_errors = max(
        totals.internal_errors, sum(1 for f in findings if f["code"] == "NN002")
    )
    fixable = {Path(f["filename"]) for f in findings if f["code"] in FIXED_RULES}
    return totals, fixable


def hunt(name: str, timeout: float) -> Totals:
    totals = Totals()
    parts = batches(package_folder(name))
    for index, batch in enumerate(parts, start=1):
        found, fixable = run_once(batch, [], timeout)
        totals.add(found)
        if fixable:
            totals.add(run_once(sorted(fixable), ["--diff", "--unsafe-fixes"], timeout)[0])
        print(_row(f"  {index}/{len(parts)}", totals), flush=True)
    return totals


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", default=",".join(INSTALLED + WHEELS))
    parser.add_argument("--timeout", type=float, default=1200)
    args = parser.parse_args(argv)
    grand = Totals()
    header = f"{'package':<14}{'runs':>6}{'files':>8}{'findings':>10}{'fixes':>7}"
    print(f"{header}{'internal':>10}{'lost':>6}", flush=True)
    for name in args.packages.split(","):
        totals = hunt(name, args.timeout)
        grand.add(totals)
        print(_row(name, totals), flush=True)
    print(_row("total", grand))
    for problem in grand.problems:
        print(f"  {problem}")
    return 1 if grand.internal_errors or grand.runs_lost else 0


def _row(name: str, t: Totals) -> str:
    return (
        f"{name:<14}{t.runs:>6}{t.files:>8}{t.findings:>10}{t.fixes:>7}"
        f"{t.internal_errors:>10}{t.runs_lost:>6}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
