"""The result cache: per file, what the last run found, keyed by the file's stat.

An unchanged file (same size and modification time) is not read again. As in git, a file
modified within a moment of the cache being written is "racy" (a later edit could keep its
size and, at the clock's granularity, its time): it is read and compared by content hash.
The cache lives in one JSON file per nnlint version and effective settings, written
atomically; a missing or corrupt cache is simply ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nnlint import __version__
from nnlint.findings import Finding
from nnlint.source import read_bounded

DEFAULT_DIR = ".nnlint_cache"


@dataclass
class Entry:
    """What a file's last analysis produced.

    `alone` are its findings analysed on its own; `wanted` the networks (and configs) of
    other files that analysis asked for; `provides` the networks it defines. A file that
    asked for something of the run owns a group (itself and the files it needs, whose
    stats make up `group`): `final` is what analysing the group found, in any of its files.
    `analysed` is False for a file the pre-filter skipped.
    """

    stat: tuple[int, int]
    digest: str
    module: str
    alone: list[Finding] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)
    final: list[Finding] = field(default_factory=list)
    group: list[tuple[str, int, int]] = field(default_factory=list)
    analysed: bool = True
    imports: list[str] = field(default_factory=list)
    provides: list[str] = field(default_factory=list)


RACY_NS = 2_000_000_000
MAX_CACHE_BYTES = 512 * 1024 * 1024


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def file_stat(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_mtime_ns, info.st_size


def settings_key(settings: object) -> str:
    """A short hash of nnlint's version and the settings that change findings."""
    text = json.dumps([__version__, repr(settings)], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Cache:
    """Entries by absolute path, loaded from and saved to one file."""

    def __init__(self, folder: Path, key: str) -> None:
        self.file = folder / f"{key}.json"
        self.folder = folder
        self.entries: dict[str, Entry] = {}
        self.written_ns = 0
        self.stale_racy = False

    def load(self) -> None:
        """Read the cache; one that is missing, unreadable or of any other shape than the
        one `save` writes is ignored (and replaced by the next save)."""
        try:
            raw = json.loads(read_bounded(self.file, MAX_CACHE_BYTES).decode("utf-8"))
            written = raw["written_ns"]
            entries = raw["entries"]
            if not isinstance(written, int) or not isinstance(entries, dict):
                raise TypeError("not an nnlint cache")
            self.entries = {_text(path): _entry(data) for path, data in entries.items()}
            self.written_ns = written
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            self.entries = {}
            self.written_ns = 0

    def trusted(self, entry: Entry, stat: tuple[int, int]) -> bool:
        """True when the stat matches and the file was not modified racily close to the
        moment the cache was written."""
        return tuple(entry.stat) == stat and stat[0] < self.written_ns - RACY_NS

    def save(self) -> None:
        """Write atomically: a temporary file renamed over the old cache."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            gitignore = self.folder / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
            entries = {path: asdict(entry) for path, entry in self.entries.items()}
            data = {"written_ns": time.time_ns(), "entries": entries}
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temporary, self.file)
        except OSError:
            return


def _entry(data: object) -> Entry:
    """An entry as `save` wrote it; TypeError for anything else."""
    if not isinstance(data, dict):
        raise TypeError("a cache entry is not an object")
    return Entry(
        stat=_ints(data["stat"], 2),
        digest=_text(data["digest"]),
        module=_text(data["module"]),
        alone=[_finding(f) for f in _list(data["alone"])],
        wanted=[_text(w) for w in _list(data["wanted"])],
        final=[_finding(f) for f in _list(data["final"])],
        group=[(_text(g[0]), *_ints(g[1:], 2)) for g in map(_list, _list(data["group"]))],
        analysed=_boolean(data["analysed"]),
        imports=[_text(i) for i in _list(data["imports"])],
        provides=[_text(p) for p in _list(data["provides"])],
    )


_FINDING_TEXT = ("path", "code", "message", "severity", "help")


def _finding(data: object) -> Finding:
    numbers = {"line", "col", "cell", "end_line", "end_col"}
    if not isinstance(data, dict) or set(data) - {*_FINDING_TEXT, *numbers, "related"}:
        raise TypeError("a cached finding is not a finding")
    optional = {key: data.get(key) for key in ("cell", "end_line", "end_col")}
    return Finding(
        **{key: _text(data[key]) for key in _FINDING_TEXT if key in data},
        line=_ints([data["line"]], 1)[0],
        col=_ints([data["col"]], 1)[0],
        **{k: None if v is None else _ints([v], 1)[0] for k, v in optional.items()},
        related=tuple(_ints(r, 2) for r in _list(data.get("related", []))),
    )


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _list(value: object) -> list:
    if not isinstance(value, list):
        raise TypeError("expected a list")
    return value


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value


def _ints(value: object, count: int) -> tuple[int, ...]:
    items = _list(value)
    if len(items) != count or not all(type(i) is int for i in items):
        raise TypeError(f"expected {count} integers")
    return tuple(items)
