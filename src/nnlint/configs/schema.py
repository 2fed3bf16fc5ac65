"""Validate configs against the JSON Schemas nnlint ships (Lightning CLI, Hugging Face
`TrainingArguments`) and those users name in `[tool.nnlint] config-schemas`, and place
each violation at the key it concerns."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from nnlint.configs.file import ConfigFile
from nnlint.configs.tree import Node

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

# Closed schemas suggest any close key; open ones (mixed-in arguments) only very close ones.
_CLOSE = 0.6
_VERY_CLOSE = 0.85


@dataclass(frozen=True)
class Violation:
    node: Node
    message: str
    help: str


@cache
def shipped_schema(name: str) -> dict:
    text = resources.files("nnlint.configs").joinpath(f"schemas/{name}.schema.json")
    return json.loads(text.read_text("utf-8"))


@cache
def user_schema(path: Path) -> dict:
    """A user's schema; raises ValueError when it cannot be read or is not a JSON Schema."""
    import jsonschema  # noqa: PLC0415 - costs more than linting a small file

    try:
        schema = json.loads(path.read_text("utf-8"))
        jsonschema.Draft202012Validator.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as error:
        raise ValueError(f"config schema {path}: {error}") from error
    return schema


def violations(config: ConfigFile) -> Iterator[Violation]:
    """Every schema violation of a training config, once per key."""
    import jsonschema  # noqa: PLC0415 - costs more than linting a small file

    seen: set[int] = set()
    for node, schema, title, open_keys in _targets(config):
        validator = jsonschema.Draft202012Validator(schema)
        errors = sorted(validator.iter_errors(node.plain()), key=lambda e: list(e.absolute_path))
        for error in errors:
            for found in _explain(node, error, title, open_keys):
                if id(found.node) not in seen:
                    seen.add(id(found.node))
                    yield found


def _targets(config: ConfigFile) -> Iterator[tuple[Node, dict, str, bool]]:
    root = config.root
    if root is None:
        return
    for path in config.user_schemas:
        yield root, user_schema(path), path.name, False
    if config.user_schemas:
        return
    lightning = shipped_schema("lightning")
    if config.lightning is not None:
        yield config.lightning, lightning, "the Lightning CLI config", False
    trainer = {"$defs": lightning["$defs"], "$ref": "#/$defs/trainer"}
    for node in config.trainers:
        if config.lightning is None or node is not config.lightning.children.get("trainer"):
            yield node, trainer, "Lightning Trainer", False
    if config.hf_arguments is not None:
        yield (
            config.hf_arguments,
            shipped_schema("hf_training_arguments"),
            "TrainingArguments",
            True,
        )


def _explain(target: Node, error: ValidationError, title: str, open_keys: bool) -> list[Violation]:
    if error.context:
        from jsonschema.exceptions import best_match  # noqa: PLC0415 - see violations

        error = best_match(error.context)
    node = _locate(target, list(error.absolute_path))
    if node is None:
        return []
    if error.validator == "additionalProperties" and node.kind == "map":
        known = sorted(error.schema.get("properties", {}))
        patterns = error.schema.get("patternProperties", {})
        found = []
        for key, child in node.children.items():
            if key in known or _matches_pattern(key, patterns):
                continue
            guess = difflib.get_close_matches(key, known, 1, _VERY_CLOSE if open_keys else _CLOSE)
            if guess:
                found.append(
                    Violation(
                        child,
                        f"unknown key `{child.dotted}` in {title}; did you mean `{guess[0]}`?",
                        f"rename it to `{guess[0]}`",
                    )
                )
            elif not open_keys:
                found.append(
                    Violation(
                        child,
                        f"unknown key `{child.dotted}` in {title}",
                        "remove it or check the spelling against the documentation",
                    )
                )
        return found
    if node.is_interpolation:
        return []
    return [
        Violation(
            node,
            f"`{node.dotted}` in {title}: {error.message}",
            "use a value of the type and range the schema allows",
        )
    ]


def _matches_pattern(key: str, patterns: dict) -> bool:
    return any(re.search(p, key) for p in patterns)


def _locate(node: Node, path: list[str | int]) -> Node | None:
    for part in path:
        if node.kind == "map" and isinstance(part, str):
            child = node.children.get(part)
        elif node.kind == "seq" and isinstance(part, int) and part < len(node.items):
            child = node.items[part]
        else:
            return None
        if child is None:
            return None
        node = child
    return node
