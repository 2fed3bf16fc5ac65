"""The result cache: per file, what the last run found, keyed by the file's stat.

An unchanged file (same size and modification time) is not read again. The cache lives in
one JSON file per nnlint version and effective settings, written atomically; a missing or
corrupt cache is simply ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nnlint import __version__
from nnlint.findings import Finding

DEFAULT_DIR = ".nnlint_cache"


@dataclass
class Entry:
    """What a file's last analysis produced.

    `alone` are its findings analysed on its own; `wanted` the modules that analysis asked
    for; `final` its findings after analysing it with the files it belongs with, whose
    stats make up `group`.
    """

    stat: tuple[int, int]
    module: str
    alone: list[Finding] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)
    final: list[Finding] = field(default_factory=list)
    group: list[tuple[str, int, int]] = field(default_factory=list)


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

    def load(self) -> None:
        try:
            raw = json.loads(self.file.read_text("utf-8"))
            self.entries = {path: _entry(data) for path, data in raw.items()}
        except (OSError, ValueError, TypeError, KeyError):
            self.entries = {}

    def save(self) -> None:
        """Write atomically: a temporary file renamed over the old cache."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            gitignore = self.folder / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n", encoding="utf-8")
            data = {path: asdict(entry) for path, entry in self.entries.items()}
            handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out)
            os.replace(temporary, self.file)
        except OSError:
            return


def _entry(data: dict) -> Entry:
    return Entry(
        stat=tuple(data["stat"]),
        module=data["module"],
        alone=[Finding(**f) for f in data["alone"]],
        wanted=list(data["wanted"]),
        final=[Finding(**f) for f in data["final"]],
        group=[tuple(g) for g in data["group"]],
    )
