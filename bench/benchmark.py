"""The speed benchmark: nnlint against the `ast.parse` floor and against TorchFix.

    python bench/benchmark.py

Corpus: the Python files of the transformers 5.23.0 wheel plus fixtures/. It downloads the
wheel and TorchFix 0.7.0 (into its own virtual environment) with pip on the first run and
keeps them in bench/.work/. It measures, each command in a fresh process:

- `ast.parse` of every file (the floor);
- nnlint cold (no cache) with 1 job and with all cores;
- nnlint warm (the cache filled by a previous run);
- the peak memory of each run;
- TorchFix (`torchfix --select ALL`) and nnlint with the same number of jobs on the first
  300 files of the corpus;
- a fuzz pass: every corpus file analysed with every rule (no pre-filter), counting
  internal errors;

and prints a table with lines/s and the ratios against the targets. A benchmark, not a
test: the numbers depend on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / ".work"
TRANSFORMERS = "transformers==5.23.0"
TORCHFIX = "torchfix==0.7.0"
TORCHFIX_SAMPLE = 300


def _pip(*args: str, python: str = sys.executable) -> None:
    subprocess.run([python, "-m", "pip", "-q", *args], check=True)


def corpus() -> Path:
    """The unpacked transformers wheel (downloaded once)."""
    folder = WORK / "transformers"
    if not folder.exists():
        wheels = WORK / "wheels"
        _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), TRANSFORMERS)
        wheel = next(wheels.glob("transformers-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder)
    return folder


def torchfix() -> Path:
    """TorchFix in a virtual environment of its own (it pins an older libcst)."""
    env = WORK / "torchfix-venv"
    command = env / "bin" / "torchfix"
    if not command.exists():
        venv.create(env, with_pip=True)
        _pip("install", TORCHFIX, python=str(env / "bin" / "python"))
    return command


def measure(command: list[str], cwd: Path) -> tuple[float, int]:
    """Wall time and peak RSS (MiB, the largest process) of a command in a fresh process."""
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *command], cwd=cwd, capture_output=True, text=True, check=True
    )
    seconds, rss_kib = out.stdout.split()
    return float(seconds), int(rss_kib) // 1024


def parse_floor(files: list[Path]) -> tuple[float, int]:
    """Seconds to `ast.parse` every file in a fresh process, and the line count."""
    script = """
import ast, sys, time, warnings
warnings.simplefilter("ignore")
paths = open(sys.argv[1], encoding="utf-8").read().splitlines()
texts = [open(p, encoding="utf-8", errors="replace").read() for p in paths]
start = time.perf_counter()
for text in texts:
    try:
        ast.parse(text)
    except SyntaxError:
        pass
print(time.perf_counter() - start, sum(x.count(chr(10)) for x in texts))
"""
    listing = WORK / "files.txt"
    listing.write_text("\n".join(map(str, files)), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", script, str(listing)], capture_output=True, text=True, check=True
    )
    seconds, lines = out.stdout.split()
    return float(seconds), int(lines)


def fuzz(files: list[Path]) -> tuple[int, int]:
    """Analyse every file on its own, ML imports or not; (files, internal errors)."""
    script = """
import sys
from pathlib import Path
from nnlint.config import Settings
from nnlint.engine import FileInput, analyse
paths = open(sys.argv[1], encoding="utf-8").read().splitlines()
errors = 0
for path in paths:
    results, _ = analyse([FileInput(Path(path), path)], Settings(select=["ALL"]))
    errors += sum(len(r.errors) for r in results)
print(len(paths), errors)
"""
    listing = WORK / "fuzz.txt"
    listing.write_text("\n".join(map(str, files)), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", script, str(listing)], capture_output=True, text=True, check=True
    )
    checked, errors = out.stdout.split()
    return int(checked), int(errors)


def main() -> int:
    WORK.mkdir(exist_ok=True)
    source = corpus()
    fixtures = ROOT / "fixtures"
    files = sorted(source.rglob("*.py")) + sorted(fixtures.rglob("*.py"))
    cores = os.cpu_count() or 1
    floor, lines = parse_floor(files)
    nnlint = [sys.executable, "-m", "nnlint", "--no-respect-gitignore", "--exit-zero"]
    targets = [str(source), str(fixtures)]
    cache = WORK / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    rows = [("ast.parse (floor)", floor, None)]
    cold1, mem1 = measure([*nnlint, "--no-cache", "-j1", *targets], ROOT)
    coldn, memn = measure([*nnlint, "--no-cache", f"-j{cores}", *targets], ROOT)
    measure([*nnlint, "--cache-dir", str(cache), *targets], ROOT)
    warm, memw = measure([*nnlint, "--cache-dir", str(cache), *targets], ROOT)
    rows += [
        ("nnlint cold, 1 job", cold1, mem1),
        (f"nnlint cold, {cores} jobs", coldn, memn),
        ("nnlint warm (cache)", warm, memw),
    ]
    sample = sorted(source.rglob("*.py"))[:TORCHFIX_SAMPLE]
    sample_lines = sum(p.read_text("utf-8", errors="replace").count("\n") for p in sample)
    tf_time, tf_mem = measure(
        [str(torchfix()), "--select", "ALL", "-j", str(cores), *map(str, sample)], ROOT
    )
    nn_time, nn_mem = measure([*nnlint, "--no-cache", f"-j{cores}", *map(str, sample)], ROOT)

    print(f"corpus: {len(files)} files, {lines:,} lines ({TRANSFORMERS} wheel + fixtures/)")
    print(f"{'run':<28}{'seconds':>10}{'lines/s':>14}{'peak MiB':>10}")
    for name, seconds, memory in rows:
        shown = "" if memory is None else str(memory)
        print(f"{name:<28}{seconds:>10.2f}{lines / seconds:>14,.0f}{shown:>10}")
    print(f"\nfirst {len(sample)} files ({sample_lines:,} lines), {cores} jobs each:")
    print(
        f"{'TorchFix --select ALL':<28}{tf_time:>10.2f}{sample_lines / tf_time:>14,.0f}{tf_mem:>10}"
    )
    print(f"{'nnlint':<28}{nn_time:>10.2f}{sample_lines / nn_time:>14,.0f}{nn_mem:>10}")
    checked, errors = fuzz(files)
    print(f"\nfuzz pass: {checked} files analysed, {errors} internal errors (target: 0)")
    print("\nratios (target):")
    print(f"  nnlint cold 1 job / ast.parse   {cold1 / floor:6.1f}x  (<= 4x)")
    print(f"  TorchFix / nnlint               {tf_time / nn_time:6.1f}x  (>= 30x)")
    print(f"  warm run                        {warm:6.2f} s  (< 1 s)")
    print(f"  peak memory                     {max(mem1, memn, memw)} MiB  (< 500 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
