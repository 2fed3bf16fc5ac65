"""The real-script suite end to end: `nnlint --probe` on each script of
fixtures/probe/realworld/, several runs each, against the verdict in its docstring.

    python bench/probe_suite.py [--runs 5] [NAME ...]

Prints a Markdown table (script, expected, reported, exit, identical over the runs, wall
seconds of the first run). "Identical" compares each run's probe.json findings (code,
message, file, line) and the checks' figures other than timings.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "fixtures" / "probe" / "realworld"
EXPECTED = re.compile(r"\(probe: (clean|NN\d{3}(?:, NN\d{3})*)\)")


def expected(path: Path) -> frozenset[str]:
    match = EXPECTED.search(path.read_text("utf-8"))
    if match is None:
        raise SystemExit(f"{path.name}: no `(probe: ...)` verdict in its docstring")
    return frozenset() if match[1] == "clean" else frozenset(match[1].split(", "))


def without_timings(value: object) -> object:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in ("seconds",)}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def probe_once(path: Path, report: Path) -> tuple[int, dict, float]:
    began = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nnlint",
            "--probe",
            path.name,
            "--probe-report",
            str(report),
            "--probe-timeout",
            "600",
        ],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - began
    document = (
        json.loads((report / "probe.json").read_text("utf-8"))
        if (report / "probe.json").exists()
        else {}
    )
    if result.returncode == 2:
        document.setdefault("error", result.stderr.strip())
    return result.returncode, document, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    scripts = sorted(p for p in SUITE.glob("*.py") if not args.names or p.stem in args.names)
    print("| Script | Expected | Reported | Exit | Identical over runs | Wall (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for path in scripts:
        runs = []
        with tempfile.TemporaryDirectory() as scratch:
            for index in range(args.runs):
                runs.append(probe_once(path, Path(scratch) / str(index)))
        code, document, seconds = runs[0]
        found = sorted({f["code"] for f in document.get("findings", [])})
        keys = [
            (rc, without_timings(d.get("findings")), without_timings(d.get("checks")))
            for rc, d, _ in runs
        ]
        same = all(k == keys[0] for k in keys)
        want = ", ".join(sorted(expected(path))) or "clean"
        got = ", ".join(found) or ("error" if code == 2 else "clean")
        identical = f"{'yes' if same else 'NO'} ({len(runs)})"
        row = f"| `{path.name}` | {want} | {got} | {code} | {identical} | {seconds:.1f} |"
        print(row, flush=True)
        if code == 2:
            print(f"<!-- {path.name}: {document.get('error', '')[:300]!r} -->", flush=True)


if __name__ == "__main__":
    main()
