"""In-place writes to data: `df[cols] = scaler.fit_transform(df[cols])`, `x[:, 0] /= 100`,
and local helpers that write into a parameter (`encode_zscore(df, "weight")`).

NN201 asks whether data was rescaled between where it was read and where it is used; a
write it cannot show to keep the values as they were counts as a rescaling.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from nnlint import tables
from nnlint.facts.names import root_name
from nnlint.facts.scope import Scope
from nnlint.facts.values import Resolver

_NEUTRAL_METHODS = tables.RAW_PRESERVING_METHODS | {"fillna", "replace", "map"}
_MAX_DEPTH = 3


@dataclass(frozen=True)
class Write:
    """`name` is written in place at `line`; `rescales` unless the value visibly keeps it."""

    name: str
    line: int
    rescales: bool


class Writes:
    """The in-place writes of each scope of a module, found on first use."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self._by_scope: dict[int, list[Write]] = {}

    def rescaled_between(self, name: str, scope: Scope, start: int, end: int) -> bool:
        """True when `name` may be rescaled in place in `scope` between lines start and end."""
        return any(w.name == name and w.rescales and start < w.line < end for w in self.of(scope))

    def of(self, scope: Scope, depth: int = 0) -> list[Write]:
        """The writes in `scope`, with those of the local helpers it calls on its data."""
        key = id(scope)
        if key not in self._by_scope:
            self._by_scope[key] = []
            self._by_scope[key] = list(self._find(scope, depth))
        return self._by_scope[key]

    def _find(self, scope: Scope, depth: int) -> Iterator[Write]:
        body = getattr(scope.node, "body", [])
        for node in self._live_nodes(body, scope):
            if isinstance(node, ast.Assign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Subscript | ast.Attribute):
                        name = root_name(target)
                        if name:
                            yield Write(name, node.lineno, self._rescales(node, scope))
            elif isinstance(node, ast.Call) and depth < _MAX_DEPTH:
                yield from self._helper_writes(node, depth)

    def _helper_writes(self, call: ast.Call, depth: int) -> Iterator[Write]:
        """`helper(df, ...)` where the local function `helper` writes into that parameter."""
        if not isinstance(call.func, ast.Name):
            return
        callee = self.resolver.collected.functions.get(call.func.id)
        if callee is None:
            return
        for position, arg in enumerate(call.args):
            if isinstance(arg, ast.Name) and position < len(callee.params):
                param = callee.params[position]
                if any(w.name == param and w.rescales for w in self.of(callee, depth + 1)):
                    yield Write(arg.id, call.lineno, True)

    def _live_nodes(self, body: list[ast.stmt], scope: Scope) -> Iterator[ast.AST]:
        """Nodes of a body, skipping nested definitions and `if flag:` blocks whose flag is
        the constant False."""
        stack: list[ast.AST] = list(reversed(body))
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            if isinstance(node, ast.If) and self.resolver.constant(node.test, scope) is False:
                stack.extend(reversed(node.orelse))
                continue
            yield node
            stack.extend(reversed(list(ast.iter_child_nodes(node))))

    def _rescales(self, node: ast.Assign | ast.AugAssign, scope: Scope) -> bool:
        """False for values that visibly keep the scale: constants, copies, `fillna`-like
        methods, and category codes (`LabelEncoder().fit_transform(df[c])`)."""
        if isinstance(node, ast.AugAssign):
            return True
        value = node.value
        if isinstance(value, ast.Constant | ast.Name | ast.Subscript | ast.Compare):
            return False
        if isinstance(value, ast.List | ast.Tuple):
            return False
        func = value.func if isinstance(value, ast.Call) else None
        if not isinstance(func, ast.Attribute):
            return True
        if func.attr in _NEUTRAL_METHODS:
            return False
        encoders = [
            self.resolver.call_name(o.expr, o.scope)
            for o in self.resolver.origins(func.value, scope)
            if isinstance(o.expr, ast.Call)
        ]
        return not (encoders and all(e in tables.CATEGORY_ENCODERS for e in encoders))
