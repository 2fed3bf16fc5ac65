"""Which YAML/JSON files of a run are training configs, and reading them for a run."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from nnlint.config import Settings
from nnlint.configs.file import (
    ConfigFile,
    looks_like_training_text,
    read_config,
    unrelated_by_name,
)
from nnlint.source import SourceFile


def _relative(path: Path, settings: Settings) -> str:
    try:
        return path.resolve().relative_to(settings.root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _matches(path: Path, pattern: str, settings: Settings) -> bool:
    relative = _relative(path, settings)
    return fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(
        relative, pattern.replace("**/", "")
    )


def named_by_settings(path: Path, settings: Settings) -> bool:
    """True when `config-files` names this file."""
    return any(_matches(path, p, settings) for p in settings.config_files)


def worth_parsing(path: Path, text: str, settings: Settings) -> bool:
    """The cheap test before parsing a config found in a folder (as the ML-import test is
    for Python): named by `config-files`, or, when that is not set, two training keys."""
    if settings.config_files:
        return named_by_settings(path, settings)
    return not unrelated_by_name(path) and looks_like_training_text(text)


def read_for_run(
    path: Path, display: str, text: str | None, settings: Settings
) -> tuple[SourceFile, ConfigFile]:
    """Read and parse a config; raises OSError when it cannot be read."""
    if text is None:
        text = path.read_bytes().decode("utf-8", errors="replace")
    forced = named_by_settings(path, settings)
    config = read_config(path, display, text, forced=forced)
    if settings.config_files and not forced:
        config.training = False
    config.user_schemas = [
        schema
        for pattern, schema in settings.config_schemas.items()
        if _matches(path, pattern, settings)
    ]
    return SourceFile(path, display, text, None, None), config
