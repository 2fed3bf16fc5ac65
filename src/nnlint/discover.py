"""Which files a run lints: Python files under the given paths, minus excludes and
git-ignored paths."""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from nnlint.config import Settings
from nnlint.configs.file import CONFIG_SUFFIXES, MAX_CONFIG_BYTES

PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")


def excluded(path: Path, settings: Settings, under: Path, prefix: str | None = None) -> bool:
    """True when the path relative to the project root, or a folder or file name below
    `under` (the folder being walked), matches an exclude glob. `prefix` is `under`
    relative to the root, when the caller knows it (walking resolves it once)."""
    parts = path.relative_to(under).parts
    if prefix is None:
        relative = relative_to_root(path, settings)
    else:
        relative = "/".join((prefix, *parts)) if prefix else "/".join(parts)
    return any(
        fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts)
        for pattern in settings.exclude
    )


def relative_to_root(path: Path, settings: Settings) -> str:
    """The path relative to the project root (POSIX), or as given when outside it."""
    try:
        relative = path.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
    return "" if relative == "." else relative


def absolute(path: Path) -> str:
    """A path's absolute, normalised spelling (cheaper than resolving symlinks)."""
    return os.path.normpath(os.path.abspath(path))


def excluded_file(path: Path, settings: Settings) -> bool:
    """True when a named file is excluded (for `--force-exclude`), judged from the root."""
    resolved = path.resolve()
    root = settings.root.resolve()
    under = root if resolved.is_relative_to(root) else resolved.parent
    return excluded(resolved, settings, under)


def _git_visible(folder: Path) -> set[str] | None:
    """Files git does not ignore under `folder`, or None outside a git work tree."""
    try:
        result = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", "."],
            cwd=folder,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    names = result.stdout.decode("utf-8", "surrogateescape").split("\0")
    return {absolute(folder / name) for name in names if name}


def discover(
    paths: list[Path],
    settings: Settings,
    problems: list[str] | None = None,
    notes: list[str] | None = None,
) -> Iterator[Path]:
    """Yield each file to lint once, in a stable order. Files named explicitly are kept
    even when excluded, unless `force-exclude` is set (as pre-commit needs). FIFOs,
    devices and sockets (and links to them) are never read: each is skipped with a note."""
    seen: set[str] = set()
    for path in paths:
        if _special(path):
            if notes is not None:
                notes.append(f"{path}: skipped, not a regular file")
            continue
        if path.is_file():
            if settings.force_exclude and excluded_file(path, settings):
                continue
            if absolute(path) not in seen:
                seen.add(absolute(path))
                yield path
            continue
        visible = _git_visible(path) if settings.respect_gitignore else None
        for file in _walk(path, settings, problems, notes):
            key = absolute(file)
            if key in seen or (visible is not None and key not in visible):
                continue
            seen.add(key)
            yield file


def _walk(
    folder: Path, settings: Settings, problems: list[str] | None, notes: list[str] | None
) -> Iterator[Path]:
    def unreadable(error: OSError) -> None:
        if problems is not None:
            problems.append(f"{error.filename}: cannot read folder: {error.strerror}")

    prefix = relative_to_root(folder, settings)
    for root, dirs, files in os.walk(folder, onerror=unreadable):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not excluded(base / d, settings, folder, prefix))
        for name in sorted(files):
            file = base / name
            if not _lintable(file) or excluded(file, settings, folder, prefix):
                continue
            if _special(file):
                if notes is not None:
                    notes.append(f"{file}: skipped, not a regular file")
                continue
            yield file


def _special(path: Path) -> bool:
    """True for a path (followed through links) that exists and is neither a regular
    file nor a folder: a FIFO, a device, a socket."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _lintable(file: Path) -> bool:
    """Python files and notebooks; YAML/JSON small enough to be a config, not data."""
    name = file.name.lower()
    if name.endswith(PYTHON_SUFFIXES):
        return True
    if not name.endswith(CONFIG_SUFFIXES):
        return False
    try:
        return file.stat().st_size <= MAX_CONFIG_BYTES
    except OSError:
        return False
