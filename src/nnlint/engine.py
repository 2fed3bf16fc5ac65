"""The pipeline: discover -> read and parse once -> extract facts -> rules -> noqa/selection."""

from __future__ import annotations

import fnmatch
import gc
import os
from dataclasses import dataclass, field
from pathlib import Path

from nnlint.config import Settings
from nnlint.discover import discover
from nnlint.facts import ModuleFacts, extract
from nnlint.findings import Finding
from nnlint.noqa import file_exempt, suppressed
from nnlint.project import Project, module_name
from nnlint.rules import Hit, Rule, all_rules, matches
from nnlint.source import SourceFile, read_source


@dataclass
class Report:
    """The outcome of a run: findings, files checked, files that could not be read, and
    internal errors (which make the run fail with exit code 2)."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)

    def line_text(self, finding: Finding) -> str:
        """The source line a finding points at (of its notebook cell, in a notebook)."""
        source = self.sources.get(finding.path)
        return source.line_text(finding.line, finding.cell) if source is not None else ""


def enabled_rules(settings: Settings) -> list[Rule]:
    """Rules selected by `select`/`extend-select` and not ignored."""
    selected = [*settings.select, *settings.extend_select]
    return [
        r for r in all_rules() if matches(r.code, selected) and not matches(r.code, settings.ignore)
    ]


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def lint(paths: list[Path], settings: Settings) -> Report:
    """Lint files and folders with the given settings.

    The cyclic garbage collector is paused for the run: every tree stays alive until the
    rules have run, and repeated collections over them would cost more than the parsing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint(paths, settings)
    finally:
        if was_enabled:
            gc.enable()


def _lint(paths: list[Path], settings: Settings) -> Report:
    report = Report()
    sources: list[SourceFile] = []
    for path in discover(paths, settings):
        try:
            sources.append(read_source(path, display_path(path)))
        except OSError as error:
            report.unreadable.append(
                f"{display_path(path)}: cannot read: {error.strerror or error}"
            )
    report.files = len(sources)
    return lint_sources(sources, settings, report)


def lint_sources(sources: list[SourceFile], settings: Settings, report: Report) -> Report:
    """Extract facts from parsed sources, run the rules and filter the findings."""
    modules: list[ModuleFacts] = []
    for source in sources:
        if source.tree is None:
            continue
        try:
            modules.append(extract(source, module_name(source.path)))
        except RecursionError:
            report.unreadable.append(f"{source.display}: too deeply nested to analyse")
    project = Project(modules, [s for s in sources if s.tree is None])
    by_path = report.sources = {s.display: s for s in sources}
    for rule in enabled_rules(settings):
        try:
            hits = list(rule.check(project))
        except Exception as error:
            report.errors.append(f"internal error in {rule.code} ({rule.name}): {error!r}")
            continue
        for hit in hits:
            source = by_path.get(hit.path)
            if source is None or not _suppressed(hit, rule.code, source, settings):
                report.findings.append(_finding(rule, hit, source))
    report.findings = sorted(set(report.findings))
    return report


def _finding(rule: Rule, hit: Hit, source: SourceFile | None) -> Finding:
    cell, line, col = None, *hit.position
    if source is not None:
        cell, line, col = source.position(line, col)
    return Finding(hit.path, line, col, rule.code, hit.message, rule.severity, hit.help, cell)


def _suppressed(hit: Hit, code: str, source: SourceFile, settings: Settings) -> bool:
    if file_exempt(source.text):
        return True
    for pattern, codes in settings.per_file_ignores.items():
        if _path_matches(source.path, pattern, settings) and matches(code, codes):
            return True
    return suppressed(source.line_text(hit.position[0]), code)


def _path_matches(path: Path, pattern: str, settings: Settings) -> bool:
    try:
        relative = path.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        relative = path.as_posix()
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.name, pattern)
