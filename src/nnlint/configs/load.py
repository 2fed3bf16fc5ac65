"""Parse YAML and JSON configs into position-carrying trees, safely.

YAML is composed with the safe loader and turned into nodes here: no constructor ever runs
on a tag, so `!!python/object` stays inert text. Aliases are expanded with a budget, so a
"billion laughs" document is one finding, not a hung run.
"""

from __future__ import annotations

import bisect
import json
import math
import re

import yaml

from nnlint.configs.tree import Key, Node

MAX_NODES = 50_000
MAX_DEPTH = 100
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STANDARD = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_STANDARD + t for t in ("null", "bool", "int", "float", "str"))
_MERGE = _STANDARD + "merge"


class ConfigSyntaxError(Exception):
    """A config that cannot be read, with where (1-based line, 0-based column)."""

    def __init__(self, message: str, line: int = 1, col: int = 0) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


def load(text: str, suffix: str) -> list[Node]:
    """The documents of a YAML (several per file) or JSON (one) config."""
    text = text.removeprefix("\ufeff")
    return [load_json(text)] if suffix == ".json" else load_yaml(text)


# -- YAML ------------------------------------------------------------------------------
def load_yaml(text: str) -> list[Node]:
    loader = _YAML_LOADER(text)
    roots: list[yaml.Node] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                roots.append(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = error.problem or error.context or "invalid YAML"
        line, col = (mark.line + 1, mark.column) if mark else (1, 0)
        raise ConfigSyntaxError(message, line, col) from error
    except (yaml.YAMLError, RecursionError) as error:
        raise ConfigSyntaxError(f"invalid YAML: {error}") from error
    finally:
        loader.dispose()
    documents = []
    builder = _YamlBuilder()  # one budget for every document of the file
    for root in roots:
        try:
            documents.append(builder.build(root, (), root.start_mark, 0))
        except ConfigSyntaxError as error:  # point at the document, not deep inside it
            error.line, error.col = root.start_mark.line + 1, root.start_mark.column
            raise
    return documents


class _YamlBuilder:
    """Turns composed YAML nodes into `Node`s, counting every node it makes."""

    def __init__(self) -> None:
        self.count = 0
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: tuple[Key, ...], mark: yaml.Mark, depth: int) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise ConfigSyntaxError(f"expands to more than {MAX_NODES} values through aliases")
        if depth > MAX_DEPTH:
            raise ConfigSyntaxError(f"nested more than {MAX_DEPTH} levels deep")
        line, col = mark.line + 1, mark.column
        if isinstance(node, yaml.MappingNode):
            result = Node("map", None, line, col, path)
            for key_node, value_node in self._pairs(node, depth):
                key = self._key(key_node)
                if key is not None:
                    result.children[key] = self.build(
                        value_node, (*path, key), key_node.start_mark, depth + 1
                    )
            return result
        if isinstance(node, yaml.SequenceNode):
            result = Node("seq", None, line, col, path)
            result.items = [
                self.build(item, (*path, i), item.start_mark, depth + 1)
                for i, item in enumerate(node.value)
            ]
            return result
        return Node("scalar", self._scalar(node), line, col, path)

    def _pairs(self, node: yaml.MappingNode, depth: int) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value pairs with `<<` merge keys applied: explicit keys win over merged ones,
        and earlier merged mappings over later ones."""
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        explicit: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE:
                explicit.append((key_node, value_node))
                continue
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for source in sources:
                self.count += 1
                if self.count > MAX_NODES or depth > MAX_DEPTH:
                    raise ConfigSyntaxError("merge keys expand too far")
                if isinstance(source, yaml.MappingNode):
                    pairs = self._pairs(source, depth + 1)
                    self.count += len(pairs)  # every merged pair is a value made
                    if self.count > MAX_NODES:
                        raise ConfigSyntaxError("merge keys expand too far")
                    merged.extend(pairs)
        seen: set[object] = set()
        pairs = []
        for key_node, value_node in [*explicit, *merged]:
            key = self._key(key_node)
            if key not in seen:
                seen.add(key)
                pairs.append((key_node, value_node))
        return pairs

    def _key(self, node: yaml.Node) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            return None
        value = self._scalar(node)
        return value if isinstance(value, str) else str(value)

    def _scalar(self, node: yaml.Node) -> object:
        """Standard scalars (null, bool, int, float, str) as values; anything else, such as
        a timestamp or a `!!python/...` tag, as its text, never constructed."""
        if node.tag not in _SCALAR_TAGS:
            return str(node.value)
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError):
            return str(node.value)


# -- JSON ------------------------------------------------------------------------------
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
# JSON's literals, and the special floats Python's json (and so Hugging Face's
# trainer_state.json after a diverged run) writes.
_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}


def load_json(text: str) -> Node:
    """Parse JSON with the standard library first (its errors are the familiar ones), then
    scan it again for positions."""
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigSyntaxError(error.msg, error.lineno, error.colno - 1) from error
    except RecursionError as error:
        raise ConfigSyntaxError(f"nested more than {MAX_DEPTH} levels deep") from error
    return _JsonScanner(text).document()


class _JsonScanner:
    """A small scanner over JSON already known to be valid, recording where values are."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.count = 0

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.starts, offset)
        return line, offset - self.starts[line - 1]

    def skip(self, offset: int) -> int:
        match = _WHITESPACE.match(self.text, offset)
        return match.end() if match else offset

    def document(self) -> Node:
        start = self.skip(0)
        node, _ = self.value(start, (), start, 0)
        return node

    def value(self, offset: int, path: tuple[Key, ...], at: int, depth: int) -> tuple[Node, int]:
        self.count += 1
        line, col = self.position(at)
        if depth > MAX_DEPTH or self.count > MAX_NODES:
            raise ConfigSyntaxError(f"nested more than {MAX_DEPTH} levels deep", line, col)
        char = self.text[offset]
        if char == "{":
            node = Node("map", None, line, col, path)
            offset = self.skip(offset + 1)
            while self.text[offset] != "}":
                key_at = offset
                key, offset = json.decoder.scanstring(self.text, offset + 1)
                offset = self.skip(self.skip(offset) + 1)  # past ':'
                child, offset = self.value(offset, (*path, key), key_at, depth + 1)
                node.children[key] = child
                offset = self.skip(offset)
                if self.text[offset] == ",":
                    offset = self.skip(offset + 1)
            return node, offset + 1
        if char == "[":
            node = Node("seq", None, line, col, path)
            offset = self.skip(offset + 1)
            while self.text[offset] != "]":
                child, offset = self.value(offset, (*path, len(node.items)), offset, depth + 1)
                node.items.append(child)
                offset = self.skip(offset)
                if self.text[offset] == ",":
                    offset = self.skip(offset + 1)
            return node, offset + 1
        if char == '"':
            text, end = json.decoder.scanstring(self.text, offset + 1)
            return Node("scalar", text, line, col, path), end
        for word, literal in _LITERALS.items():
            if self.text.startswith(word, offset):
                return Node("scalar", literal, line, col, path), offset + len(word)
        match = _NUMBER.match(self.text, offset)
        if match is None:
            raise ConfigSyntaxError("unreadable value", line, col)
        number = match.group()
        value = float(number) if match.group(1) or match.group(2) else int(number)
        return Node("scalar", value, line, col, path), match.end()
