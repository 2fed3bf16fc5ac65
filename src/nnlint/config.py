"""Settings from `[tool.nnlint]` in pyproject.toml, validated against a JSON Schema."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.rules import unknown_selector
from nnlint.toml_lines import key_line

if TYPE_CHECKING:
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
        text = pyproject.read_text("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{pyproject}: cannot read TOML: {error}") from error
    table = data.get("tool", {}).get("nnlint")
    if table is None:
        return Settings(root=pyproject.parent)
    validate(table, pyproject, text)
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
    settings.config_schemas = _config_schemas(table.get("config-schemas", {}), pyproject, text)
    return settings


def _config_schemas(table: dict[str, str], pyproject: Path, text: str) -> dict[str, Path]:
    """`config-schemas`: glob -> JSON Schema file, relative to the pyproject.toml."""
    schemas = {}
    for pattern, name in table.items():
        schema = pyproject.parent / name
        if not schema.is_file():
            raise _located(pyproject, text, ["config-schemas", pattern], f"no such file: {name}")
        schemas[pattern] = schema
    return schemas


def validate(table: object, pyproject: Path, text: str = "") -> None:
    """Raise `ConfigError` for the first problem: `pyproject.toml:LINE: JSON path: a plain
    sentence` (an unknown key or rule selector with a did-you-mean)."""
    import jsonschema  # noqa: PLC0415 - only when there is a [tool.nnlint] table

    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(table), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        where = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = sorted(error.schema.get("properties", {}))
            key = next((k for k in error.instance if k not in allowed), "?")
            guess = difflib.get_close_matches(key, allowed, n=1)
            known = f"known keys: {', '.join(allowed)}"
            hint = f"did you mean `{guess[0]}`?" if guess else known
            raise _located(pyproject, text, [*where, key], f"unknown key; {hint}")
        raise _located(pyproject, text, where, _sentence(error))
    for where, selector in _selectors(table):
        if problem := unknown_selector(selector):
            raise _located(pyproject, text, where, problem)


def _selectors(table: dict) -> Iterator[tuple[list[str | int], str]]:
    """Every rule selector of the table, with its path."""
    for key in ("select", "extend-select", "ignore"):
        for index, selector in enumerate(table.get(key, [])):
            yield [key, index], selector
    for pattern, selectors in table.get("per-file-ignores", {}).items():
        for index, selector in enumerate(selectors):
            yield ["per-file-ignores", pattern, index], selector


_TYPES = {
    "array": "a list",
    "object": "a table",
    "string": "a string",
    "boolean": "true or false",
    "number": "a number",
    "integer": "a whole number",
}


def _sentence(error: jsonschema.ValidationError) -> str:
    """A schema error as a plain sentence, not jsonschema's text."""
    value, rule = error.instance, error.validator_value
    if error.validator == "type":
        wanted = " or ".join(_TYPES.get(t, t) for t in ([rule] if isinstance(rule, str) else rule))
        return f"expected {wanted}, got {_shown(value)}"
    if error.validator == "pattern":
        return unknown_selector(str(value)) or f"`{value}` is not allowed here"
    if error.validator == "enum":
        return f"expected one of {', '.join(map(str, rule))}, got {_shown(value)}"
    bounds = {
        "minimum": "at least",
        "exclusiveMinimum": "more than",
        "maximum": "at most",
        "exclusiveMaximum": "less than",
    }
    if error.validator in bounds:
        return f"expected a value {bounds[error.validator]} {rule}, got {value}"
    if error.validator == "minLength":
        return "must not be empty"
    return str(error.message)


def _shown(value: object) -> str:
    kind = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    kind.update({list: "a list", dict: "a table"})
    return f"{kind.get(type(value), type(value).__name__)} ({json.dumps(value)[:40]})"


def _located(pyproject: Path, text: str, where: list[str | int], problem: str) -> ConfigError:
    path = "$.tool.nnlint" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where)
    line = key_line(text, where)
    return ConfigError(
        f"{pyproject.name}:{line}: {path}: {problem}"
        if line
        else f"{pyproject.name}: {path}: {problem}"
    )
