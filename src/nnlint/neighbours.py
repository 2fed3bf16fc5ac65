"""The project files a linted file needs to be understood: the modules it imports (where its
network is defined) and the files that import it (where its network is trained).

pre-commit passes only the changed files, so `nnlint train.py` must still see `models.py`.
These files are read for context only: their own findings are not reported. The search
stays inside the project root (the folder of pyproject.toml, or the working directory) and
is bounded, so a named file never costs more than a few reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

# At most this many candidate importers are read per folder searched.
MAX_SCANNED = 200
MAX_BYTES = 1024 * 1024


def search_folders(path: Path, root: Path) -> list[Path]:
    """The file's folder and each folder above it up to the project root (just the file's
    folder when it lies outside the root)."""
    folder = path.resolve().parent
    root = root.resolve()
    if not folder.is_relative_to(root):
        return [folder]
    folders = [folder]
    while folder != root:
        folder = folder.parent
        folders.append(folder)
    return folders


def module_file(module: str, folders: list[Path]) -> Path | None:
    """Where `import module` finds a project module: `a/b.py` or `a/b/__init__.py` below the
    nearest of `folders`."""
    parts = module.split(".")
    for folder in folders:
        for candidate in (
            folder.joinpath(*parts).with_suffix(".py"),
            folder.joinpath(*parts, "__init__.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


class ImportIndex:
    """The import lines of the Python files in a folder (not below it), read once a run."""

    def __init__(self) -> None:
        self._folders: dict[Path, list[tuple[Path, str]]] = {}

    def importers(self, path: Path, module: str, folders: list[Path]) -> list[Path]:
        """Files in `folders` other than `path` that import `module` by its name."""
        last = re.escape(module.rpartition(".")[2])
        pattern = re.compile(
            rf"^\s*(?:from\s+[\w.]*\b{last}\s+import\b|import\s+[\w., ]*\b{last}\b"
            rf"|from\s+[\w.]+\s+import\s+[\w., (]*\b{last}\b)",
            re.MULTILINE,
        )
        own = path.resolve()
        return [
            candidate
            for folder in folders
            for candidate, imports in self._imports(folder)
            if candidate != own and pattern.search(imports)
        ]

    def _imports(self, folder: Path) -> list[tuple[Path, str]]:
        if folder not in self._folders:
            self._folders[folder] = list(_import_lines(folder))
        return self._folders[folder]


def _import_lines(folder: Path) -> Iterator[tuple[Path, str]]:
    try:
        candidates = sorted(p for p in folder.iterdir() if p.suffix == ".py")
    except OSError:
        return
    for candidate in candidates[:MAX_SCANNED]:
        try:
            if not candidate.is_file() or candidate.stat().st_size > MAX_BYTES:
                continue
            text = candidate.read_text("utf-8", errors="replace")
        except OSError:
            continue
        lines = [line for line in text.splitlines() if "import" in line]
        yield candidate.resolve(), "\n".join(lines)
