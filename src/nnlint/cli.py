"""`nnlint [PATHS]`: the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nnlint import __version__
from nnlint.config import ConfigError, Settings, find_pyproject, load_settings
from nnlint.engine import Report, lint
from nnlint.report import render, summary
from nnlint.rules import CODE_PATTERN, all_rules, rule_by_code

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _codes(value: str) -> list[str]:
    codes = [c.strip().upper() for c in value.split(",") if c.strip()]
    for code in codes:
        if code != "ALL" and not CODE_PATTERN.fullmatch(code):
            raise argparse.ArgumentTypeError(f"invalid rule selector: {code!r}")
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
    parser.add_argument("--output-format", choices=["concise", "full", "json"], default="concise")
    parser.add_argument("--config", type=Path, help="pyproject.toml to read [tool.nnlint] from")
    parser.add_argument(
        "--no-respect-gitignore", action="store_true", help="also lint git-ignored files"
    )
    parser.add_argument("--explain", metavar="CODE", help="print a rule's documentation")
    parser.add_argument(
        "--list-rules", action="store_true", help="list all rules (JSON with --output-format json)"
    )
    parser.add_argument("--version", action="version", version=f"nnlint {__version__}")
    return parser


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
    return settings


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
    args = build_parser().parse_args(argv)
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
    paths = args.paths or [Path(".")]
    missing = [p for p in paths if not p.exists()]
    if missing:
        for path in missing:
            print(f"nnlint: error: {path}: no such file or directory", file=sys.stderr)
        return EXIT_ERROR
    report = lint(paths, settings)
    sys.stdout.write(render(report, args.output_format))
    return finish(report, args.output_format)


def finish(report: Report, fmt: str) -> int:
    """Print problems and the summary to stderr and choose the exit code."""
    for problem in report.unreadable + report.errors:
        print(f"nnlint: error: {problem}", file=sys.stderr)
    if fmt != "json":
        print(summary(report), file=sys.stderr)
    if report.errors or (report.unreadable and report.files == 0):
        return EXIT_ERROR
    return EXIT_FINDINGS if report.findings else EXIT_CLEAN
