"""Fix audit: what `nnlint --fix --unsafe-fixes --select ALL` does to real-looking programs.

    nice -n 19 python bench/fix_audit.py [--show]

1. fixtures/: a copy is fixed; every changed file must parse and a second run must change
   nothing. `--show` prints each fixed hunk for review (the fixtures do not run: they read
   datasets), and the refusals with their reasons.
2. Generated programs: every combination of the generator in tests/test_fix_semantics.py
   (activation and loss, where the activation sits, instance or functional loss, no read
   or one read of the output) is fixed, then the original and the fixed program run on the
   same random inputs; a fix is wrong when the fixed program fails or changes an output
   other than the loss it is about.

Prints fixes applied, programs checked, refused and wrong. Needs torch (CPU).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nnlint.cli import main as nnlint  # noqa: E402
from tests.test_fix_semantics import LOSSES, PLACES, READS, _close, program, run_program  # noqa: E402

FIX = ["--fix", "--unsafe-fixes", "--select", "ALL", "--no-cache", "--no-respect-gitignore"]


def quiet(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = nnlint(argv)
    return code, err.getvalue()


def applied(stderr: str) -> int:
    return sum(
        int(line.split()[2]) for line in stderr.splitlines() if line.startswith("nnlint: fixed ")
    )


def audit_fixtures(show: bool) -> tuple[int, int, int]:
    """(fixes applied, files changed, files failing a check)."""
    work = Path(tempfile.mkdtemp()) / "fixtures"
    shutil.copytree(ROOT / "fixtures", work)
    before = {p: p.read_text("utf-8") for p in work.rglob("*.py")}
    cwd = os.getcwd()
    os.chdir(work)
    try:
        _, first = quiet([*FIX, "."])
        _, second = quiet([*FIX, "."])
    finally:
        os.chdir(cwd)
    changed = [p for p, text in before.items() if p.read_text("utf-8") != text]
    failing = 0
    for path in sorted(changed):
        try:
            ast.parse(path.read_text("utf-8"))
        except SyntaxError as error:
            failing += 1
            print(f"  does not parse: {path.relative_to(work)}: {error}")
    if applied(second):
        failing += 1
        print(f"  a second run fixed {applied(second)} more")
    if show:
        diff = subprocess.run(
            ["git", "diff", "--no-index", "--no-color", str(ROOT / "fixtures"), str(work)],
            capture_output=True,
            text=True,
            check=False,
        )
        print(diff.stdout)
        print("\n".join(sorted({n for n in first.splitlines() if "not fixed" in n})))
    shutil.rmtree(work.parent)
    return applied(first), len(changed), failing


def audit_generated() -> tuple[int, int, int, int]:
    """(programs, fixed, refused, wrong) over every generated combination."""
    programs = fixed_count = refused = wrong = 0
    cwd = os.getcwd()
    reads = [[], *([r] for r in sorted(READS))]
    for (act, loss), place, functional, read in itertools.product(
        sorted(LOSSES), PLACES, (False, True), reads
    ):
        source = program(act, loss, place, functional, read)
        folder = Path(tempfile.mkdtemp())
        target = folder / "train.py"
        target.write_text(source, encoding="utf-8")
        os.chdir(folder)
        try:
            quiet([*FIX, "train.py"])
        finally:
            os.chdir(cwd)
        fixed = target.read_text("utf-8")
        shutil.rmtree(folder)
        programs += 1
        if fixed == source:
            refused += 1
            continue
        fixed_count += 1
        before = run_program(source, act)
        try:
            after = run_program(fixed, act)
        except Exception as error:  # a crash of the fixed program is what is looked for
            wrong += 1
            print(f"  crashes after the fix ({error}):\n{fixed}")
            continue
        about_loss = loss != "BCELoss"
        changed = [
            key
            for key, value in before.items()
            if not (key == "loss" and about_loss) and not _close(after.get(key), value)
        ]
        if changed:
            wrong += 1
            print(f"  changed {changed}:\n{source}\n---\n{fixed}")
    return programs, fixed_count, refused, wrong


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the fixtures' fixes")
    args = parser.parse_args(argv)
    fixes, files, failing = audit_fixtures(args.show)
    print(f"fixtures: {fixes} fixes applied in {files} files; {failing} failing parse/idempotence")
    programs, fixed, refused, wrong = audit_generated()
    print(
        f"generated: {programs} programs, {fixed} fixed and run before/after, "
        f"{refused} refused, {wrong} wrong"
    )
    return 1 if failing or wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
