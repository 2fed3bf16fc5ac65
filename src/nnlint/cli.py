"""`nnlint [PATHS]`: the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from nnlint import __version__
from nnlint.baseline import BaselineError, new_findings, write_baseline
from nnlint.cache import DEFAULT_DIR
from nnlint.config import ConfigError, Settings, find_pyproject, load_settings
from nnlint.discover import excluded_file
from nnlint.engine import Report, enabled_rules, lint, lint_text
from nnlint.findings import SEVERITIES
from nnlint.fixes import apply_fixes
from nnlint.probe.command import positive_seconds, probe_options
from nnlint.report import FORMATS, MACHINE_FORMATS, render, statistics, summary, write_output
from nnlint.rules import all_rules, rule_by_code, unknown_selector

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
    parser.add_argument("paths", nargs="*", type=Path, help="files or folders (default: .)")
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
    parser.add_argument("--output-format", choices=list(FORMATS), default="concise")
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
    parser.add_argument("--cache-dir", type=Path, help=f"cache folder (default: {DEFAULT_DIR})")
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
    probe = parser.add_argument_group("runtime probe (needs torch: pip install 'nnlint[probe]')")
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
        type=positive_seconds,
        metavar="SECONDS",
        help="wall-clock budget for the probe (default 180)",
    )
    probe.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="where the probe runs (default auto)"
    )
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    return parser


def _jobs(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a whole number from 1 up, not {value!r}")
    return int(value)


def _flatten(groups: list[list[str]] | None) -> list[str] | None:
    return None if groups is None else [c for group in groups for c in group]


def settings_from(args: argparse.Namespace) -> Settings:
    start = args.paths[0] if args.paths else Path.cwd()
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
        "cache-dir": None if args.no_cache else str(_cache_dir(settings, args)),
    }
    return json.dumps(shown, indent=2) + "\n"


def _cache_dir(settings: Settings, args: argparse.Namespace) -> Path | None:
    if args.no_cache:
        return None
    return args.cache_dir or settings.root / DEFAULT_DIR


def fix_until_done(report: Report, settings: Settings, args: argparse.Namespace) -> Report | None:
    """Apply fixes and lint again until nothing more is fixable (a fix can expose another:
    two softmax layers in a row), at most MAX_FIX_ROUNDS times; the last report."""
    fixed = 0
    for _ in range(MAX_FIX_ROUNDS):
        outcome = apply_fixes(report.findings, unsafe=args.unsafe_fixes, write=True)
        for problem in outcome.problems:
            print(f"nnlint: error: {problem}", file=sys.stderr)
        fixed += outcome.applied
        if not outcome.changed:
            break
        relinted = run_lint(settings, args)
        if relinted is None:
            return None
        report = relinted
    print(f"nnlint: fixed {fixed} findings", file=sys.stderr)
    return report


def run_lint(settings: Settings, args: argparse.Namespace) -> Report | None:
    """Lint the paths (or standard input); None after printing a usage error."""
    if args.stdin_filename:
        path = Path(args.stdin_filename)
        if settings.force_exclude and excluded_file(path, settings):
            return Report()
        return lint_text(sys.stdin.read(), args.stdin_filename, settings)
    paths = args.paths or [Path(".")]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"nnlint: error: {path}: no such file or directory", file=sys.stderr)
    if missing:
        return None
    return lint(paths, settings, jobs=args.jobs, cache_dir=_cache_dir(settings, args))


def list_rules(fmt: str) -> str:
    rules = all_rules()
    if fmt == "json":
        items = [
            {"code": r.code, "name": r.name, "severity": r.severity, "summary": r.summary}
            for r in rules
        ]
        return json.dumps(items, indent=2) + "\n"
    width = max(len(r.name) for r in rules)
    return "".join(f"{r.code}  {r.name:<{width}}  {r.summary}\n" for r in rules)


def explain(code: str) -> str | None:
    rule = rule_by_code(code)
    if rule is None:
        return None
    return f"# {rule.code} {rule.name} ({rule.severity})\n\n{rule.summary}\n\n{rule.doc}\n"


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
            print(
                f"nnlint: unknown rule {args.explain!r}; see `nnlint --list-rules`", file=sys.stderr
            )
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
    if report is None:
        return EXIT_ERROR
    if args.fix or args.diff:
        if args.stdin_filename:
            print("nnlint: error: --fix and --diff need files, not standard input", file=sys.stderr)
            return EXIT_ERROR
        if args.diff:
            outcome = apply_fixes(report.findings, unsafe=args.unsafe_fixes, write=False)
            for problem in outcome.problems:
                print(f"nnlint: error: {problem}", file=sys.stderr)
            sys.stdout.write("".join(outcome.diffs))
            print(f"nnlint: would fix {outcome.applied} findings", file=sys.stderr)
            return EXIT_FINDINGS if outcome.applied else EXIT_CLEAN
        report = fix_until_done(report, settings, args)
        if report is None:
            return EXIT_ERROR
    report.show_unsafe_fixes = args.unsafe_fixes
    if args.write_baseline:
        write_baseline(args.write_baseline, report.findings, report.line_text)
        count = len(report.findings)
        print(f"nnlint: recorded {count} findings in {args.write_baseline}", file=sys.stderr)
        return EXIT_ERROR if report.errors else EXIT_CLEAN
    if args.baseline:
        try:
            report.findings = new_findings(args.baseline, report.findings, report.line_text)
        except BaselineError as error:
            print(f"nnlint: error: {error}", file=sys.stderr)
            return EXIT_ERROR
    fmt = args.output_format
    text = statistics(report, fmt) if args.statistics else render(report, fmt)
    try:
        write_output(text, args.output_file)
    except OSError as error:
        print(
            f"nnlint: error: cannot write {args.output_file}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return finish(report, fmt, args)


def run_probe(settings: Settings, args: argparse.Namespace) -> int:
    """`--probe`: run the user's model in a child process; the same report and exit codes."""
    from nnlint.probe import ProbeUnavailable, probe  # noqa: PLC0415 - only with --probe

    try:
        report, outcome = probe(probe_options(settings, args))
    except (ConfigError, ProbeUnavailable) as error:
        print(f"nnlint: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        write_output(render(report, args.output_format), args.output_file)
    except OSError as error:
        print(f"nnlint: error: cannot write {args.output_file}: {error}", file=sys.stderr)
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
    for note in report.notes:
        print(f"nnlint: note: {note}", file=sys.stderr)
    if fmt not in MACHINE_FORMATS or args.output_file:
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
