"""A config document as a tree of nodes that remember where they were written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

Key = str | int

_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


@dataclass(eq=False)
class Node:
    """A mapping, sequence or scalar of a config file.

    `line` (1-based) and `col` (0-based) point at the key for a mapping's value, else at
    the value itself, so a finding lands where a reader looks for the setting.
    """

    kind: str  # "map" | "seq" | "scalar"
    value: object
    line: int
    col: int
    path: tuple[Key, ...] = ()
    children: dict[str, Node] = field(default_factory=dict)
    items: list[Node] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The last key of the node's path, lower-cased ('' at the root or in a list)."""
        last = self.path[-1] if self.path else ""
        return last.lower() if isinstance(last, str) else ""

    @property
    def dotted(self) -> str:
        """The key path as users write it: `trainer.callbacks[0].class_path`."""
        text = ""
        for part in self.path:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return text or "$"

    def get(self, *keys: str) -> Node | None:
        """The node at `keys` below this mapping, matching keys case-sensitively."""
        node: Node | None = self
        for key in keys:
            if node is None or node.kind != "map":
                return None
            node = node.children.get(key)
        return node

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first, in document order."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            below = node.children.values() if node.kind == "map" else node.items
            stack.extend(reversed(list(below)))

    @property
    def number(self) -> float | None:
        """The scalar as a number: YAML 1.1 reads `1e-3` as a string, users mean 0.001."""
        value = self.value
        if self.kind != "scalar" or isinstance(value, bool):
            return None
        if isinstance(value, int | float):
            return value
        if isinstance(value, str) and _NUMBER.match(value.strip()):
            return float(value)
        return None

    @property
    def text(self) -> str | None:
        """The scalar as a string, when it is one."""
        return self.value if self.kind == "scalar" and isinstance(self.value, str) else None

    @property
    def is_interpolation(self) -> bool:
        """An OmegaConf/Hydra value resolved at run time (`${...}`) or a required `???`."""
        text = self.text
        return text is not None and ("${" in text or text.strip() == "???")

    def plain(self) -> object:
        """The node as plain Python data (for schema validation)."""
        if self.kind == "map":
            return {k: v.plain() for k, v in self.children.items()}
        if self.kind == "seq":
            return [item.plain() for item in self.items]
        return self.value
