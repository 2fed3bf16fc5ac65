"""`nnlint [PATHS]`: the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint import __version__
from nnlint.cache import DEFAULT_DIR
from nnlint.config import ConfigError, Settings, find_pyproject, load_settings
from nnlint.findings import SEVERITIES
from nnlint.rules import Rule, all_rules, rule_by_code, unknown_selector

if TYPE_CHECKING:
    from nnlint.engine import Report

# The output formats, named here so that `--version` and `--help` import no linting code.
FORMATS = ("concise", "full", "json", "json-lines", "github", "sarif", "junit")
MACHINE_FORMATS = frozenset({"json", "json-lines", "sarif", "junit"})
STDIN = Path("-")

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
MAX_FIX_ROUNDS = 10


def _codes(value: str) -> list[str]:
    """A comma-separated list of rule codes or prefixes; an unknown one is a usage error
    (exit 2), so that a typo cannot switch linting off."""
    codes = [c.strip().upper() for c in value.split(",") if c.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("expected rule codes or prefixes, got nothing")
    for code in codes:
        if problem := unknown_selector(code):
            raise argparse.ArgumentTypeError(problem)
    return codes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nnlint",
        description=(
            "Find silent mistakes in deep-learning training code before they cost GPU hours."
        ),
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: .); - reads standard input"
    )
    parser.add_argument(
        "--select",
        type=_codes,
        action="append",
        help="rules to check: codes or prefixes, comma-separated",
    )
    parser.add_argument(
        "--extend-select", type=_codes, action="append", help="rules to add to the selection"
    )
    parser.add_argument(
        "--ignore", type=_codes, action="append", help="rules to skip: codes or prefixes"
    )
    parser.add_argument("--output-format", choices=FORMATS, default="concise")
    parser.add_argument(
        "-o", "--output-file", type=Path, metavar="FILE", help="write the report to FILE"
    )
    parser.add_argument(
        "--statistics", action="store_true", help="print the count of findings per rule instead"
    )
    parser.add_argument(
        "--exit-zero", action="store_true", help="exit 0 even with findings (2 still on errors)"
    )
    parser.add_argument(
        "--fail-on",
        choices=SEVERITIES,
        default="info",
        help="exit 1 only for findings of this severity or worse (default: info, any finding)",
    )
    parser.add_argument("--config", type=Path, help="pyproject.toml to read [tool.nnlint] from")
    parser.add_argument(
        "--no-respect-gitignore", action="store_true", help="also lint git-ignored files"
    )
    parser.add_argument("--explain", metavar="CODE", help="print a rule's documentation")
    parser.add_argument(
        "--list-rules", action="store_true", help="list all rules (JSON with --output-format json)"
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=os.cpu_count() or 1,
        help="processes (default: all cores)",
    )
    parser.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    parser.add_argument(
        "--cache-dir", type=Path, help=f"cache folder (default: {DEFAULT_DIR} at the project root)"
    )
    parser.add_argument(
        "--baseline", type=Path, metavar="FILE", help="report only findings not in FILE"
    )
    parser.add_argument(
        "--write-baseline", type=Path, metavar="FILE", help="record today's findings in FILE"
    )
    parser.add_argument(
        "--stdin-filename", metavar="PATH", help="lint standard input as if it were PATH"
    )
    parser.add_argument(
        "--force-exclude", action="store_true", help="apply exclude to files named explicitly"
    )
    parser.add_argument(
        "--show-settings", action="store_true", help="print the effective settings and exit"
    )
    parser.add_argument("--fix", action="store_true", help="apply safe fixes, then report")
    parser.add_argument(
        "--unsafe-fixes",
        action="store_true",
        help="also apply (and mark) fixes that change behaviour",
    )
    parser.add_argument(
        "--diff", action="store_true", help="show the fixes as a diff, write nothing"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print tracebacks of internal errors"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the findings and errors: no summary line, no notes",
    )
    probe = parser.add_argument_group("runtime probe (needs torch: python -m pip install torch)")
    probe.add_argument(
        "--probe",
        nargs="?",
        const="",
        metavar="TARGET",
        help="run the model and data from pkg.module:factory, path/to/train.py:factory or an "
        "unmodified training script path/to/train.py (its arguments after `--`; default: "
        "target in [tool.nnlint.probe]) and report NN9 findings",
    )
    probe.add_argument(
        "-m",
        dest="probe_module",
        metavar="MODULE",
        help="with --probe: probe the training script `python -m MODULE` would run",
    )
    probe.add_argument(
        "--probe-report", type=Path, metavar="DIR", help="write probe.json and lr_finder.png here"
    )
    probe.add_argument(
        "--probe-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="wall-clock budget for the probe (default 180)",
    )
    probe.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="where the probe runs (default auto)"
    )
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    return parser


def _seconds(value: str) -> float:
    from nnlint.probe.command import positive_seconds  # noqa: PLC0415 - only with --probe-timeout

    return positive_seconds(value)


def _jobs(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a whole number from 1 up, not {value!r}")
    return int(value)


def _flatten(groups: list[list[str]] | None) -> list[str] | None:
    return None if groups is None else [c for group in groups for c in group]


def settings_from(args: argparse.Namespace) -> Settings:
    if args.stdin_filename:
        start = Path(args.stdin_filename)
    else:
        start = next((p for p in args.paths if p != STDIN), Path.cwd())
    pyproject = args.config if args.config else find_pyproject(start)
    if args.config and not args.config.is_file():
        raise ConfigError(f"{args.config}: no such file")
    settings = load_settings(pyproject)
    if (select := _flatten(args.select)) is not None:
        settings.select = select
    settings.extend_select += _flatten(args.extend_select) or []
    settings.ignore += _flatten(args.ignore) or []
    if args.no_respect_gitignore:
        settings.respect_gitignore = False
    if args.force_exclude:
        settings.force_exclude = True
    return settings


def show_settings(settings: Settings, args: argparse.Namespace) -> str:
    """The effective settings, as JSON."""
    from nnlint.engine import enabled_rules  # noqa: PLC0415 - see FORMATS

    shown = {
        "config-file": str(settings.source) if settings.source else None,
        "root": str(settings.root),
        "select": settings.select,
        "extend-select": settings.extend_select,
        "ignore": settings.ignore,
        "exclude": settings.exclude,
        "per-file-ignores": settings.per_file_ignores,
        "respect-gitignore": settings.respect_gitignore,
        "force-exclude": settings.force_exclude,
        "rules": [r.code for r in enabled_rules(settings)],
        "jobs": args.jobs,
        "cache-dir": None if args.no_cache else str(_cache_dir(args)),
    }
    return json.dumps(shown, indent=2) + "\n"


def project_root(start: Path) -> Path:
    """The folder of the nearest pyproject.toml at or above `start`, else the git work
    tree holding it, else the working directory: where the cache goes, as ruff's does,
    whichever subfolder nnlint runs from."""
    start = start.resolve()
    folders = [start, *start.parents] if start.is_dir() else list(start.parents)
    for marker in ("pyproject.toml", ".git"):
        for folder in folders:
            if (folder / marker).exists():
                return folder
    return Path.cwd()


def _cache_dir(args: argparse.Namespace) -> Path | None:
    if args.no_cache:
        return None
    start = next((p for p in args.paths if p != STDIN and p.exists()), Path.cwd())
    return args.cache_dir or project_root(start) / DEFAULT_DIR


def fix_until_done(report: Report, settings: Settings, args: argparse.Namespace) -> Report:
    """Apply fixes and lint again until nothing more is fixable (a fix can expose another:
    two softmax layers in a row), at most MAX_FIX_ROUNDS times; the last report."""
    from nnlint.fixes import apply_fixes  # noqa: PLC0415 - libcst only when fixing

    fixed = 0
    problems: dict[str, None] = {}
    notes: dict[str, None] = {}
    for _ in range(MAX_FIX_ROUNDS):
        outcome = apply_fixes(
            report.findings, unsafe=args.unsafe_fixes, write=True, digests=report.digests
        )
        problems.update(dict.fromkeys(outcome.problems))
        notes.update(dict.fromkeys(outcome.notes))
        fixed += outcome.applied
        if not outcome.changed:
            break
        report = run_lint(settings, args)
    print(f"nnlint: fixed {fixed} findings", file=sys.stderr)
    report.errors.extend(problems)  # a file that could not be fixed is exit code 2
    report.notes.extend(n for n in notes if n not in report.notes)
    return report


def reads_stdin(args: argparse.Namespace) -> bool:
    """`nnlint -` or `--stdin-filename PATH`: lint standard input."""
    return bool(args.stdin_filename) or STDIN in args.paths


def run_lint(settings: Settings, args: argparse.Namespace) -> Report:
    """Lint standard input, or the paths that exist: a missing path is an error of the
    run (exit 2) and the others are still linted, as ruff does."""
    from nnlint.discover import excluded_file  # noqa: PLC0415 - see FORMATS
    from nnlint.engine import Report, lint, lint_text  # noqa: PLC0415

    if reads_stdin(args):
        display = args.stdin_filename or "-"
        if settings.force_exclude and excluded_file(Path(display), settings):
            return Report()
        return lint_text(sys.stdin.read(), display, settings)
    paths = args.paths or [Path(".")]
    present = [p for p in paths if p.exists()]
    missing = [f"{p}: no such file or directory" for p in paths if not p.exists()]
    report = lint(present, settings, jobs=args.jobs, cache_dir=_cache_dir(args))
    report.errors[:0] = missing
    return report


def list_rules(fmt: str) -> str:
    """Every rule, marking those off by default (they run only when selected)."""
    rules = all_rules()
    if fmt == "json":
        items = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity,
                "summary": r.summary,
                "default": r.default,
                "runtime": r.runtime,
            }
            for r in rules
        ]
        return json.dumps(items, indent=2) + "\n"
    width = max(len(r.name) for r in rules)
    return "".join(
        f"{r.code}  {r.name:<{width}}  {'(off by default) ' * (not r.default)}{r.summary}\n"
        for r in rules
    )


def _selection_note(rule: Rule) -> str:
    if rule.runtime:
        return "Reported by `nnlint --probe`, which runs the code."
    if rule.default:
        return "On by default."
    return (
        f"Off by default: select it with `--extend-select {rule.code}` or "
        f'`extend-select = ["{rule.code}"]` in `[tool.nnlint]`.'
    )


def explain(code: str) -> str | None:
    rule = rule_by_code(code)
    if rule is None:
        return None
    return (
        f"# {rule.code} {rule.name} ({rule.severity})\n\n{rule.summary}\n\n"
        f"{_selection_note(rule)}\n\n{rule.doc}\n"
    )


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if "--" in argv and any(a in ("--probe", "-m") or a.startswith("--probe=") for a in argv):
        at = argv.index("--")  # `nnlint --probe train.py -- --epochs 5`: the script's own
        argv, script_args = argv[:at], argv[at + 1 :]
    args = build_parser().parse_args(argv)
    args.script_args = script_args
    if args.list_rules:
        sys.stdout.write(list_rules(args.output_format))
        return EXIT_CLEAN
    if args.explain:
        text = explain(args.explain)
        if text is None:
            problem = unknown_selector(args.explain.upper()) or "not a single rule code"
            print(f"nnlint: error: --explain {args.explain}: {problem}", file=sys.stderr)
            return EXIT_ERROR
        sys.stdout.write(text)
        return EXIT_CLEAN
    try:
        settings = settings_from(args)
    except ConfigError as error:
        print(f"nnlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if args.show_settings:
        sys.stdout.write(show_settings(settings, args))
        return EXIT_CLEAN
    if args.probe is not None or args.probe_module:
        return run_probe(settings, args)
    report = run_lint(settings, args)
    if args.fix or args.diff:
        if reads_stdin(args):
            print("nnlint: error: --fix and --diff need files, not standard input", file=sys.stderr)
            return EXIT_ERROR
        if args.diff:
            return show_diff(report, args)
        report = fix_until_done(report, settings, args)
    report.show_unsafe_fixes = args.unsafe_fixes
    if args.write_baseline:
        from nnlint.baseline import write_baseline  # noqa: PLC0415 - see FORMATS

        write_baseline(args.write_baseline, report.findings, report.line_text)
        count = len(report.findings)
        print(f"nnlint: recorded {count} findings in {args.write_baseline}", file=sys.stderr)
        return EXIT_ERROR if report.errors else EXIT_CLEAN
    if args.baseline:
        from nnlint.baseline import BaselineError, new_findings  # noqa: PLC0415

        try:
            report.findings = new_findings(args.baseline, report.findings, report.line_text)
        except BaselineError as error:
            print(f"nnlint: error: {error}", file=sys.stderr)
            return EXIT_ERROR
    from nnlint.report import render, statistics  # noqa: PLC0415 - see FORMATS

    fmt = args.output_format
    text = statistics(report, fmt) if args.statistics else render(report, fmt)
    if not write_or_say(text, args):
        return EXIT_ERROR
    return finish(report, fmt, args)


def show_diff(report: Report, args: argparse.Namespace) -> int:
    """`--diff`: the fixes as a unified diff on stdout; nothing is written."""
    from nnlint.fixes import apply_fixes  # noqa: PLC0415 - libcst only when fixing

    outcome = apply_fixes(report.findings, unsafe=args.unsafe_fixes, write=False)
    for problem in outcome.problems:
        print(f"nnlint: error: {problem}", file=sys.stderr)
    for note in outcome.notes:
        print(f"nnlint: note: {note}", file=sys.stderr)
    sys.stdout.write("".join(outcome.diffs))
    print(f"nnlint: would fix {outcome.applied} findings", file=sys.stderr)
    return EXIT_FINDINGS if outcome.applied else EXIT_CLEAN


def write_or_say(text: str, args: argparse.Namespace) -> bool:
    """Write the report where asked; False after saying why it could not be written."""
    from nnlint.report import OutputError, write_output  # noqa: PLC0415 - see FORMATS

    try:
        write_output(text, args.output_file)
    except (OSError, OutputError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        where = args.output_file if args.output_file is not None else "standard output"
        print(f"nnlint: error: cannot write {where}: {reason}", file=sys.stderr)
        return False
    return True


def run_probe(settings: Settings, args: argparse.Namespace) -> int:
    """`--probe`: run the user's model in a child process; the same report and exit codes."""
    from nnlint.probe import ProbeUnavailable, probe  # noqa: PLC0415 - only with --probe
    from nnlint.probe.command import probe_options  # noqa: PLC0415
    from nnlint.report import render  # noqa: PLC0415

    try:
        report, outcome = probe(probe_options(settings, args))
    except (ConfigError, ProbeUnavailable) as error:
        print(f"nnlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    if not write_or_say(render(report, args.output_format), args):
        return EXIT_ERROR
    for write in outcome.skipped:
        print(f"nnlint: probe: skipped a write of the script: {write}", file=sys.stderr)
    for note in outcome.notes:
        print(f"nnlint: probe: {note}", file=sys.stderr)
    if report.errors:  # could not run: no "All checks passed" after the error
        for problem in report.errors:
            print(f"nnlint: error: {problem}", file=sys.stderr)
        return EXIT_ERROR
    return finish(report, args.output_format, args)


def finish(report: Report, fmt: str, args: argparse.Namespace) -> int:
    """Print problems and the summary to stderr (machine formats on stdout stay quiet) and
    choose the exit code."""
    for problem in report.unreadable + report.errors:
        shown = problem if args.verbose else problem.split("\n", 1)[0]
        print(f"nnlint: error: {shown.rstrip()}", file=sys.stderr)
    if getattr(args, "quiet", False):
        return exit_code(report, args.fail_on, args.exit_zero)
    for note in report.notes:
        print(f"nnlint: note: {note}", file=sys.stderr)
    if fmt not in MACHINE_FORMATS or args.output_file:
        from nnlint.report import summary  # noqa: PLC0415 - see FORMATS

        print(summary(report), file=sys.stderr)
    return exit_code(report, args.fail_on, args.exit_zero)


def exit_code(report: Report, fail_on: str = "info", exit_zero: bool = False) -> int:
    """2 on errors; else 1 when a finding is at least as severe as `fail_on`, unless
    `exit_zero`; else 0."""
    if report.errors or (report.unreadable and report.files == 0):
        return EXIT_ERROR
    worst = SEVERITIES.index(fail_on)
    failing = any(SEVERITIES.index(f.severity) <= worst for f in report.findings)
    return EXIT_FINDINGS if failing and not exit_zero else EXIT_CLEAN
