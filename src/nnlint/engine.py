"""The pipeline: discover -> read and parse once -> extract facts -> rules -> noqa/selection.

Each file is first analysed on its own (in parallel, and skipped when the cache says it has
not changed). A file whose analysis asked for a network of another module of the run (a
model class imported from `models.py`) is then analysed again together with those modules,
so cross-module findings are the same whatever the order, the job count or the cache.
"""

from __future__ import annotations

import fnmatch
import functools
import gc
import os
import re
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

from nnlint.cache import Cache, Entry, digest, file_stat, settings_key
from nnlint.config import Settings
from nnlint.configs import ConfigFile, config_key, is_config_path
from nnlint.configs.select import read_for_run, worth_parsing
from nnlint.discover import absolute, discover, relative_to_root
from nnlint.facts import ModuleFacts, extract
from nnlint.findings import Finding
from nnlint.neighbours import ImportIndex, module_file, search_folders
from nnlint.noqa import Directives, directives, unknown_codes, unused
from nnlint.notebook import CellMap, NotebookError, notebook_source
from nnlint.prefilter import imports_ml_framework
from nnlint.project import Project, module_name
from nnlint.rules import Hit, Rule, all_rules, closest_code, matches, rule_by_code
from nnlint.source import SourceFile, read_source, read_text, source_from_text
from nnlint.workers import parallel_map

INTERNAL_ERROR = "NN002"
UNUSED_NOQA = "NN001"
# Findings on a module that the modules importing it can make moot.
USER_CONTEXT_CODES = frozenset({"NN101"})
_REPORT_IT = "this is a bug in nnlint: run with --verbose and report the traceback"
_TOO_DEEP = "too deeply nested to analyse"
_SPLIT_IT = "split the deeply nested expression, or exclude the file"
# Below this many files to analyse, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 24
# Larger files are skipped with a note: no training script is this big, generated code is.
MAX_FILE_BYTES = 4 * 1024 * 1024


@dataclass
class Report:
    """The outcome of a run: findings, files checked, files that could not be read, and
    internal errors (which make the run fail with exit code 2)."""

    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    unreadable: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: dict[str, SourceFile] = field(default_factory=dict)
    show_unsafe_fixes: bool = False
    # The digest of each file's text as analysed, so --fix can skip a file edited since.
    digests: dict[str, str] = field(default_factory=dict)

    def line_text(self, finding: Finding) -> str:
        """The source line a finding points at (of its notebook cell, in a notebook)."""
        source = self.sources.get(finding.path)
        if source is None:
            try:
                source = read_source(Path(finding.path), finding.path)
            except OSError:
                return ""
            self.sources[finding.path] = source
        return source.line_text(finding.line, finding.cell)


@dataclass(frozen=True)
class FileInput:
    """A file to analyse: where it is, how it is shown, and its text when already read."""

    path: Path
    display: str
    text: str | None = None
    cells: CellMap | None = None
    context: bool = False  # read to understand another file; its findings are not reported


@dataclass
class FileResult:
    """The findings of one file and the modules its analysis asked for."""

    display: str
    module: str
    findings: list[Finding] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unreadable: str | None = None
    note: str | None = None
    analysed: bool = True
    imports: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


def enabled_rules(settings: Settings) -> list[Rule]:
    """Static rules selected and not ignored: without `select`, the rules that are on by
    default plus `extend-select`; with it, exactly the selection (`ALL`: every rule).
    Runtime rules are `--probe`'s."""
    if settings.select is None:
        chosen = [r for r in all_rules() if r.default or matches(r.code, settings.extend_select)]
    else:
        selected = [*settings.select, *settings.extend_select]
        chosen = [r for r in all_rules() if matches(r.code, selected)]
    return [r for r in chosen if not r.runtime and not matches(r.code, settings.ignore)]


def display_path(path: Path) -> str:
    """A path as the user should see it: relative to the working directory when below it."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def lint(
    paths: list[Path], settings: Settings, *, jobs: int = 1, cache_dir: Path | None = None
) -> Report:
    """Lint files and folders with the given settings, `jobs` processes and an optional cache."""
    explicit = {absolute(p) for p in paths if p.is_file()}
    run = _Run(settings, jobs, cache_dir)
    files = list(discover(paths, settings, run.report.unreadable, run.report.notes))
    return run.run(files, explicit)


def lint_text(text: str, display: str, settings: Settings) -> Report:
    """Lint one file's text given on its own (standard input), shown as `display`."""
    cells = None
    if display.endswith(".ipynb"):
        try:
            text, cells = notebook_source(text)
        except NotebookError as error:
            return Report(unreadable=[f"{display}: {error}"])
    with _gc_paused():
        report = Report(files=1)
        results, sources = analyse([FileInput(Path(display), display, text, cells)], settings)
        report.sources = sources
        for result in results:
            report.findings.extend(result.findings)
            report.errors.extend(result.errors)
            report.notes.extend([result.note] if result.note else [])
        report.findings.sort()
        return report


class _gc_paused:  # a context manager, named like one
    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *_: object) -> None:
        if self.was_enabled:
            gc.enable()


class _Run:
    """One run over a list of files: cache lookups, the solo pass, the group pass."""

    def __init__(self, settings: Settings, jobs: int, cache_dir: Path | None) -> None:
        self.settings = settings
        self.jobs = max(jobs, 1)
        self.cache = Cache(cache_dir, settings_key(settings)) if cache_dir else None
        self.report = Report()
        self.alone: dict[str, FileResult] = {}
        self.stats: dict[str, tuple[int, int]] = {}
        self.paths: dict[str, Path] = {}
        self.inputs: dict[str, FileInput] = {}
        self.digests: dict[str, str] = {}
        self.failed: set[str] = set()
        self.regrouped = False
        self.context: set[str] = set()

    def run(self, files: list[Path], explicit: set[str]) -> Report:
        if self.cache:
            self.cache.load()
        unreadable_before = len(self.report.unreadable)
        pending = self._reuse_or_read(files, explicit)
        self.report.files = len(files) - (len(self.report.unreadable) - unreadable_before)
        for result in self._analyse_alone(pending):
            self._record_alone(result)
        self._add_neighbours(explicit)
        groups = self._groups()
        found_by_group: dict[str, list[Finding]] = {}
        signatures: dict[str, list[tuple[str, int, int]]] = {}
        for owner, group in groups.items():
            signatures[owner] = sorted(
                (absolute(self.paths[d]) + ("?" if d in self.context else ""), *self.stats[d])
                for d in group
            )  # a context file's findings go elsewhere: its role is part of the key
            found_by_group[owner] = self._group_findings(owner, group, signatures[owner])
        final = _combine(self.alone, groups, found_by_group)
        self.report.findings = sorted(
            f for display, found in final.items() if display not in self.context for f in found
        )
        for display in self.alone:
            entry = self._entry(display)
            known = self.digests.get(display) or (entry.digest if entry else None)
            if known is not None:
                self.report.digests[display] = known
        if self.cache and (self.inputs or self.regrouped or self.cache.stale_racy):
            self._save(found_by_group, signatures)
        return self.report

    def _group_findings(
        self, owner: str, group: set[str], signature: list[tuple[str, int, int]]
    ) -> list[Finding]:
        """What analysing `owner` with the modules it asked for finds, in any of them."""
        entry = self._entry(owner)
        if (
            entry is not None
            and entry.group == signature
            and not any(d in self.inputs for d in group)
        ):
            return entry.final
        self.regrouped = True
        inputs = [
            replace(self.inputs.get(d) or FileInput(self.paths[d], d), context=d in self.context)
            for d in sorted(group)
        ]
        results, sources = analyse(inputs, self.settings)
        self.report.sources.update(sources)
        for result in results:
            self._note_errors(result)
        return [f for result in results for f in result.findings]

    def _reuse_or_read(self, files: list[Path], explicit: set[str]) -> list[FileInput]:
        """Take unchanged files' results from the cache; read the others. Files found in
        folders that import no ML framework are not parsed; files named explicitly are."""
        pending = []
        for path in files:
            display = display_path(path)
            self.paths[display] = path
            try:
                self.stats[display] = file_stat(path)
            except OSError as error:
                self.report.unreadable.append(f"{display}: cannot read: {error.strerror}")
                continue
            if self.stats[display][1] > MAX_FILE_BYTES:
                size = self.stats[display][1] // (1024 * 1024)
                self.report.notes.append(
                    f"{display}: skipped, {size} MiB is over the {MAX_FILE_BYTES >> 20} MiB limit"
                )
                self.alone[display] = FileResult(display, module_name(path), analysed=False)
                continue
            entry = self._entry(display)
            if entry is not None and not entry.analysed and absolute(path) in explicit:
                entry = None
            if entry is not None and self.cache and self.cache.trusted(entry, self.stats[display]):
                self.alone[display] = _from_cache(display, entry)
                continue
            try:
                text, cells = read_text(path)
            except OSError as error:
                self.report.unreadable.append(f"{display}: cannot read: {error.strerror}")
                continue
            except NotebookError:
                text, cells = None, None
            if entry is not None and text is not None and entry.digest == digest(text):
                self.alone[display] = _from_cache(display, entry)
                self.digests[display] = entry.digest
                self.cache.stale_racy = True  # a later save makes it trusted
                continue
            if text is not None:
                self.digests[display] = digest(text)
            item = self.inputs[display] = FileInput(path, display, text, cells)
            if (
                text is not None
                and absolute(path) not in explicit
                and not _worth_analysing(path, text, self.settings)
            ):
                self.alone[display] = FileResult(display, file_module(path), analysed=False)
                continue
            pending.append(item)
        return pending

    def _add_neighbours(self, explicit: set[str]) -> None:
        """For files named on the command line, read the project modules they import that
        this run lacks, and the files that import them, as context (see `neighbours`)."""
        named = [
            d for d, r in self.alone.items() if r.analysed and absolute(self.paths[d]) in explicit
        ]
        if not named:
            return
        index = ImportIndex()
        known = {absolute(p) for p in self.paths.values()}
        found: dict[str, Path] = {}
        for _ in range(2):  # the named files' neighbours, then what those import
            provided = {k for r in self.alone.values() for k in (r.module, *r.provides)}
            for display in named:
                result, path = self.alone[display], self.paths[display]
                folders = search_folders(path, self.settings.root)
                for key in result.wanted:
                    module = key.rpartition(".")[0]
                    if key in provided or not module or os.sep in key or "/" in key:
                        continue
                    target = module_file(module, folders)
                    if target is not None:
                        found.setdefault(absolute(target), target)
                if result.provides and display not in self.context:
                    for importer in index.importers(path, result.module, folders):
                        found.setdefault(absolute(importer), importer)
            new = [path for key, path in found.items() if key not in known]
            if not new:
                return
            known.update(found)
            before = set(self.alone)
            pending = self._reuse_or_read(new, {absolute(p) for p in new})
            for result in self._analyse_alone(pending):
                self._record_alone(result)
            added = [d for d in self.alone if d not in before]
            self.context.update(added)
            named = added

    def _analyse_alone(self, pending: list[FileInput]) -> Iterator[FileResult]:
        """Each file analysed on its own, in worker processes when there are many."""
        if self.jobs == 1 or len(pending) < PARALLEL_THRESHOLD:
            with _gc_paused():
                yield from _analyse_each(pending, self.settings)
            return
        chunks = [pending[i :: self.jobs * 4] for i in range(self.jobs * 4)]
        analyse_chunk = functools.partial(_analyse_each, settings=self.settings)
        for results in parallel_map(analyse_chunk, chunks, self.jobs):
            yield from results

    def _record_alone(self, result: FileResult) -> None:
        self.alone[result.display] = result
        self._note_errors(result)

    def _note_errors(self, result: FileResult) -> None:
        if result.note and result.note not in self.report.notes:
            self.report.notes.append(result.note)
        if result.unreadable:
            self.report.unreadable.append(result.unreadable)
            self.failed.add(result.display)
        if result.errors:
            self.report.errors.extend(result.errors)
            self.failed.add(result.display)

    def _groups(self) -> dict[str, set[str]]:
        """For each file that asked for networks (or configs) of other files of this run:
        itself, those files, the files they asked for, and so on. Shared files are analysed
        in each group that needs them rather than joining every group into one."""
        by_key: dict[str, list[str]] = {}
        for display, result in self.alone.items():
            for key in (result.module, *result.provides):
                by_key.setdefault(key, []).append(display)
        needs = {
            display: {o for k in result.wanted for o in by_key.get(k, []) if o != display}
            for display, result in self.alone.items()
        }
        # A finding that the files using a module can take back (NN101 on a head that an
        # attention network uses): each importer of that module is analysed with it.
        for display, result in self.alone.items():
            if any(f.code in USER_CONTEXT_CODES for f in result.findings):
                for user, other in self.alone.items():
                    if result.module in other.imports and user != display:
                        needs[user].add(display)
        groups = {}
        for owner, direct in needs.items():
            if not direct:
                continue
            group, stack = {owner}, list(direct)
            while stack:
                member = stack.pop()
                if member not in group:
                    group.add(member)
                    stack.extend(needs[member])
            groups[owner] = group
        return groups

    def _entry(self, display: str) -> Entry | None:
        if self.cache is None:
            return None
        return self.cache.entries.get(absolute(self.paths[display]))

    def _save(self, found_by_group: dict[str, list[Finding]], groups: dict[str, list]) -> None:
        """Record each file's solo results and, for a group owner, its group's findings."""
        assert self.cache is not None
        for display, result in self.alone.items():
            if display in self.failed:
                continue
            entry = self._entry(display)
            known = self.digests.get(display) or (entry.digest if entry else None)
            if known is None:
                continue
            self.cache.entries[absolute(self.paths[display])] = Entry(
                self.stats[display],
                known,
                result.module,
                result.findings,
                result.wanted,
                found_by_group.get(display, []),
                groups.get(display, []),
                result.analysed,
                result.imports,
                result.provides,
            )
        self.cache.save()


def _from_cache(display: str, entry: Entry) -> FileResult:
    """A file's solo results as the cache recorded them."""
    return FileResult(
        display,
        entry.module,
        entry.alone,
        entry.wanted,
        analysed=entry.analysed,
        imports=entry.imports,
        provides=entry.provides,
    )


def _combine(
    alone: dict[str, FileResult],
    groups: dict[str, set[str]],
    found_by_group: dict[str, list[Finding]],
) -> dict[str, list[Finding]]:
    """Each file's findings: from its own group if it owns one, else from its solo pass;
    then, for each group it is a member of, what that context adds (a loss in train.py
    pairs with a softmax in models.py) or removes (models.py's head is used inside an
    attention network). A finding stays only if no context removes it."""
    final = {
        display: {
            f
            for f in (found_by_group[display] if display in groups else result.findings)
            if f.path == display
        }
        for display, result in alone.items()
    }
    views: dict[str, list[set[Finding]]] = {}
    for owner, group in groups.items():
        for member in group - {owner}:
            seen = {f for f in found_by_group[owner] if f.path == member}
            views.setdefault(member, []).append(seen)
    for member, seen in views.items():
        own = final[member]
        final[member] = own.intersection(*seen) | (set().union(*seen) - own)
    return {display: sorted(found) for display, found in final.items()}


def _analyse_each(items: list[FileInput], settings: Settings) -> list[FileResult]:
    """Analyse each file on its own. Automatic garbage collection is paused (it would scan
    the trees over and over); one young-generation collection per file frees each file's
    facts, which hold reference cycles."""
    gc.disable()
    results: list[FileResult] = []
    for item in items:
        results.extend(analyse([item], settings)[0])
        gc.collect(0)
    return results


def analyse(
    items: list[FileInput], settings: Settings
) -> tuple[list[FileResult], dict[str, SourceFile]]:
    """Parse the files, extract their facts and run the rules over them as one project."""
    sources: list[SourceFile] = []
    results: dict[str, FileResult] = {}
    configs: list[ConfigFile] = []
    for item in items:
        result = results[item.display] = FileResult(item.display, file_module(item.path))
        try:
            if is_config_path(item.path):
                source, config = read_for_run(item.path, item.display, item.text, settings)
                sources.append(source)
                configs.append(config)
            elif item.text is not None:
                sources.append(source_from_text(item.path, item.display, item.text, item.cells))
            else:
                sources.append(read_source(item.path, item.display))
        except OSError as error:
            result.unreadable = f"{item.display}: cannot read: {error.strerror or error}"
        except Exception:  # one file's failure must not end the run
            _cannot_analyse(result, traceback.format_exc())
    modules: list[ModuleFacts] = []
    for source in sources:
        results[source.display].note = source.note
        if source.tree is None:
            continue
        try:
            modules.append(extract(source, results[source.display].module))
        except RecursionError:
            _cannot_analyse(results[source.display], _TOO_DEEP, _SPLIT_IT)
        except Exception:  # one file's failure must not end the run
            _cannot_analyse(results[source.display], traceback.format_exc())
    project = Project(
        modules,
        [s for s in sources if s.problem is not None],
        configs,
        settings,
        context={item.display for item in items if item.context},
    )
    by_path = {s.display: s for s in sources}
    ignoring = {s.display: _ignored_codes(s, settings) for s in sources}
    used: dict[str, set[tuple[int, str]]] = {s.display: set() for s in sources}
    noqa = _Noqa()
    for rule in enabled_rules(settings):
        try:
            hits = list(rule.check(project))
        except Exception:
            _internal_error(rule, project, results)
            continue
        for hit in hits:
            source = by_path.get(hit.path)
            if hit.path in results and (
                source is None
                or not _suppressed(hit, rule.code, source, ignoring[hit.path], noqa, used)
            ):
                results[hit.path].findings.append(_finding(rule, hit, source))
    _check_noqa(sources, results, settings, used)
    for display, wanted in project.wanted.items():
        if display in results:
            results[display].wanted = sorted(wanted)
    for module in modules:
        results[module.path].provides = sorted(k for k in module.networks if ":" not in k)
        results[module.path].imports = sorted(
            {q.rpartition(".")[0] for q in module.collected.imports.values()}
            | set(module.collected.imports.values())
        )
    for result in results.values():
        result.findings = sorted(set(result.findings))
    return list(results.values()), by_path


def file_module(path: Path) -> str:
    """The name other files ask for a file by: a module name, or a config's key."""
    return config_key(path) if is_config_path(path) else module_name(path)


def _worth_analysing(path: Path, text: str, settings: Settings) -> bool:
    """The cheap pre-filter: Python that imports an ML framework, configs with training keys."""
    if is_config_path(path):
        return worth_parsing(path, text, settings)
    return imports_ml_framework(text)


def _internal_error(rule: Rule, project: Project, results: dict[str, FileResult]) -> None:
    """Blame the files on which the rule fails on its own (all of them if it fails only on
    the whole project): each gets an NN002 finding and an error with the traceback."""
    failing = {}
    for module in project.modules:
        try:
            list(rule.check(Project([module], settings=project.settings)))
        except Exception:
            failing[module.path] = traceback.format_exc()
    if not failing:
        trace = traceback.format_exc()
        failing = dict.fromkeys(results, trace)
    meta = rule_by_code(INTERNAL_ERROR)
    for display, trace in failing.items():
        if display not in results:
            continue
        problem = trace.strip().splitlines()[-1]
        text = f"internal error in {rule.code} ({rule.name}): {problem}"
        results[display].errors.append(f"{display}: {text}\n{trace}")
        if meta is not None:
            results[display].findings.append(
                Finding(display, 1, 0, meta.code, text, meta.severity, _REPORT_IT)
            )


def _cannot_analyse(result: FileResult, trace: str, advice: str = _REPORT_IT) -> None:
    """A file nnlint failed to read or analyse: an NN002 finding and an error (exit 2);
    the other files are still checked."""
    problem = trace.strip().splitlines()[-1]
    text = f"cannot analyse this file: {problem}"
    result.errors.append(f"{result.display}: {text}\n{trace}")
    meta = rule_by_code(INTERNAL_ERROR)
    if meta is not None:
        result.findings.append(
            Finding(result.display, 1, 0, meta.code, text, meta.severity, advice)
        )


def _finding(rule: Rule, hit: Hit, source: SourceFile | None) -> Finding:
    cell, (line, col), (end_line, end_col) = None, hit.position, _end(hit)
    related: tuple[tuple[int, int], ...] = ()
    if source is not None:
        line, col = _characters(source, line, col)
        end_line, end_col = _characters(source, end_line, end_col)
        related = tuple(_characters(source, *_start(node)) for node in hit.related)
        cell, line, col = source.position(line, col)
        end_line = source.position(end_line, end_col)[1]
    return Finding(
        hit.path,
        line,
        col,
        rule.code,
        hit.message,
        rule.severity,
        hit.help,
        cell,
        related,
        end_line,
        end_col,
    )


def _start(node: object) -> tuple[int, int]:
    return getattr(node, "lineno", 1), getattr(node, "col_offset", 0)


def _end(hit: Hit) -> tuple[int, int]:
    """Where the hit's node ends (its start when it has no end)."""
    end = getattr(hit.node, "end_lineno", None), getattr(hit.node, "end_col_offset", None)
    return end if None not in end else hit.position


def _characters(source: SourceFile, line: int, col: int) -> tuple[int, int]:
    """`ast` columns count UTF-8 bytes; users (and libcst) count characters."""
    text = source.line_text(line)
    if not text.isascii():
        col = len(text.encode("utf-8")[:col].decode("utf-8", errors="ignore"))
    return line, col


class _Noqa(dict):
    """Each source's noqa directives, read (with `tokenize`) the first time a hit needs them."""

    def of(self, source: SourceFile) -> Directives:
        if source.display not in self:
            self[source.display] = directives(source.text, not is_config_path(source.path))
        return self[source.display]


def _suppressed(
    hit: Hit,
    code: str,
    source: SourceFile,
    ignored: list[str],
    noqa: _Noqa,
    used: dict[str, set],
) -> bool:
    """`ignored`: the codes per-file-ignores takes off this file; then the file's noqa
    comments (`# nnlint: noqa`, `# nnlint: noqa: NN105`) and the line's."""
    if matches(code, ignored):
        return True
    found = noqa.of(source)
    if found.file_covers(code):
        return True
    if found.line_covers(hit.position[0], code):
        used[source.display].add((hit.position[0], code))
        return True
    return False


def _typo(source: SourceFile, line: int, code: str) -> str:
    guess = closest_code(code)
    cell, line, _ = source.position(line, 0)
    where = f"{source.display}:{'' if cell is None else f'cell {cell}:'}{line}"
    return f"{where}: {code}" + (f" (did you mean {guess}?)" if guess else "")


def _check_noqa(
    sources: list[SourceFile],
    results: dict[str, FileResult],
    settings: Settings,
    used: dict[str, set[tuple[int, str]]],
) -> None:
    """A note for each noqa code that names no rule, and, when NN001 is selected, an NN001
    finding for each noqa comment that suppressed nothing."""
    known = frozenset(r.code for r in all_rules())
    static = frozenset(r.code for r in all_rules() if not r.runtime) - {UNUSED_NOQA}
    checked = frozenset(r.code for r in enabled_rules(settings))
    meta = rule_by_code(UNUSED_NOQA)
    for source in sources:
        result = results.get(source.display)
        if result is None or source.problem is not None:
            continue
        if "noqa" not in source.text:
            continue  # nothing to check, and tokenizing every file is slow
        found = directives(source.text, not is_config_path(source.path))
        typos = [_typo(source, d.line, c) for d, c in unknown_codes(found, known)]
        if typos and result.note is None:
            result.note = (
                f"unknown rule code in `# noqa` (it suppresses nothing): {'; '.join(typos)}"
            )
        if meta is None or UNUSED_NOQA not in checked:
            continue
        for directive, message in unused(found, used[source.display], checked, static):
            here = Hit(source.display, (directive.line, directive.col), message)
            ignored = _ignored_codes(source, settings)
            if _suppressed(here, UNUSED_NOQA, source, ignored, _Noqa(), used):
                continue
            cell, line, col = source.position(directive.line, directive.col)
            result.findings.append(
                Finding(
                    source.display,
                    line,
                    col,
                    meta.code,
                    message,
                    meta.severity,
                    "remove it, or the codes that no longer apply",
                    cell,
                )
            )


def _ignored_codes(source: SourceFile, settings: Settings) -> list[str]:
    """The codes per-file-ignores takes off a file, worked out once per file."""
    if not settings.per_file_ignores:
        return []
    relative = relative_to_root(source.path, settings)
    return _FileIgnores.of(settings).codes(relative, source.path.name)


class _FileIgnores:
    """`per-file-ignores` compiled once per setting: the globs of each distinct code list
    become one regular expression, so a file is matched in one pass, however many globs."""

    _compiled: ClassVar[dict[tuple, _FileIgnores]] = {}

    def __init__(self, table: tuple[tuple[str, tuple[str, ...]], ...]) -> None:
        groups: dict[tuple[str, ...], list[str]] = {}
        for pattern, codes in table:
            groups.setdefault(codes, []).append(fnmatch.translate(pattern))
        self.groups = [
            (re.compile("|".join(f"(?:{p})" for p in patterns)), list(codes))
            for codes, patterns in groups.items()
        ]

    @classmethod
    def of(cls, settings: Settings) -> _FileIgnores:
        table = tuple((p, tuple(c)) for p, c in settings.per_file_ignores.items())
        if table not in cls._compiled:
            cls._compiled.clear()  # one setting per run; the key keeps it honest
            cls._compiled[table] = cls(table)
        return cls._compiled[table]

    def codes(self, relative: str, name: str) -> list[str]:
        """The codes ignored for a file, by its root-relative path or its name."""
        return [
            code
            for regex, codes in self.groups
            if regex.match(relative) or regex.match(name)
            for code in codes
        ]
