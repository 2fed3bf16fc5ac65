"""Settings from `[tool.nnlint]` in pyproject.toml, validated against a JSON Schema."""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jsonschema

from nnlint import tables

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".env",
    "env",
    "__pycache__",
    "build",
    "dist",
    "node_modules",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "site-packages",
    ".eggs",
    "*.egg-info",
    ".nnlint_cache",
    ".ipynb_checkpoints",
)


class ConfigError(Exception):
    """A configuration problem, reported to the user with exit code 2."""


@dataclass
class Settings:
    """Effective settings for one run."""

    select: list[str] | None = None  # None: the rules that are on by default
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    respect_gitignore: bool = True
    force_exclude: bool = False
    config_files: list[str] = field(default_factory=list)
    config_schemas: dict[str, Path] = field(default_factory=dict)
    root: Path = field(default_factory=Path.cwd)
    source: Path | None = None
    probe: dict[str, object] = field(default_factory=dict)  # [tool.nnlint.probe]
    early_stopping_epochs: int = tables.MANY_EPOCHS  # NN301 reports runs this long or longer


def _schema() -> dict:
    text = resources.files("nnlint").joinpath("settings.schema.json").read_text("utf-8")
    return json.loads(text)


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml at or above `start`."""
    start = start.resolve()
    for folder in (start, *start.parents) if start.is_dir() else start.parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(pyproject: Path | None) -> Settings:
    """Read and validate `[tool.nnlint]`; no file or no table gives the defaults."""
    if pyproject is None:
        return Settings()
    try:
        data = tomllib.loads(pyproject.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: cannot read TOML: {error}") from error
    table = data.get("tool", {}).get("nnlint")
    if table is None:
        return Settings(root=pyproject.parent)
    validate(table, pyproject)
    settings = Settings(root=pyproject.parent, source=pyproject)
    settings.select = table.get("select")
    settings.extend_select = table.get("extend-select", [])
    settings.ignore = table.get("ignore", [])
    settings.exclude = table.get("exclude", settings.exclude) + table.get("extend-exclude", [])
    settings.per_file_ignores = table.get("per-file-ignores", {})
    settings.respect_gitignore = table.get("respect-gitignore", True)
    settings.force_exclude = table.get("force-exclude", False)
    settings.probe = table.get("probe", {})
    settings.early_stopping_epochs = table.get("early-stopping-epochs", tables.MANY_EPOCHS)
    settings.config_files = table.get("config-files", [])
    settings.config_schemas = _config_schemas(table.get("config-schemas", {}), pyproject)
    return settings


def _config_schemas(table: dict[str, str], pyproject: Path) -> dict[str, Path]:
    """`config-schemas`: glob -> JSON Schema file, relative to the pyproject.toml."""
    schemas = {}
    for pattern, name in table.items():
        schema = pyproject.parent / name
        if not schema.is_file():
            raise ConfigError(
                f"{pyproject.name}::$.tool.nnlint.config-schemas.{pattern}: no such file: {name}"
            )
        schemas[pattern] = schema
    return schemas


def validate(table: object, pyproject: Path) -> None:
    """Raise `ConfigError` naming the first bad key with its JSON path and a did-you-mean."""
    schema = _schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(table), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    path = "$.tool.nnlint" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        guess = difflib.get_close_matches(key, allowed, n=1)
        hint = f"; did you mean `{guess[0]}`?" if guess else f"; known keys: {', '.join(allowed)}"
        raise ConfigError(f"{pyproject.name}::{path}.{key}: unknown key{hint}")
    raise ConfigError(f"{pyproject.name}::{path}: {error.message}")
