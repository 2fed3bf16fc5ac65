"""Where data flows between names of one scope: which names an expression reads its data
from, which names are computed from given ones, and slices taken of them."""

from __future__ import annotations

import ast

from nnlint.facts.names import root_name
from nnlint.facts.scope import Binding, Scope

_SIZE_ATTRIBUTES = frozenset({"shape", "size", "ndim", "dtype", "columns", "index"})
_SIZE_FUNCTIONS = frozenset({"len", "range", "int", "float", "print", "isinstance", "type"})


def binds(binding: Binding, value: ast.expr) -> bool:
    """True when the binding assigns `value` (also as one element of `a, b = [], []`)."""
    if binding.value is value:
        return True
    elements = getattr(binding.value, "elts", None)
    index = binding.index
    return (
        elements is not None
        and index is not None
        and index < len(elements)
        and (elements[index] is value)
    )


def data_names(expr: ast.AST) -> set[str]:
    """Names whose data flows into `expr`: not indices (`x[i:j]`), sizes (`len(x)`,
    `x.shape`) or callees."""
    if isinstance(expr, ast.Name):
        return {expr.id}
    if isinstance(expr, ast.Subscript):
        return data_names(expr.value)
    if isinstance(expr, ast.Attribute):
        return set() if expr.attr in _SIZE_ATTRIBUTES else data_names(expr.value)
    if isinstance(expr, ast.Call):
        if isinstance(expr.func, ast.Name) and expr.func.id in _SIZE_FUNCTIONS:
            return set()
        head = data_names(expr.func.value) if isinstance(expr.func, ast.Attribute) else set()
        values = [*expr.args, *(k.value for k in expr.keywords)]
        return head.union(*(data_names(v) for v in values))
    return set().union(*(data_names(c) for c in ast.iter_child_nodes(expr)))


def sliced_from(expr: ast.expr, names: set[str]) -> bool:
    """True when `expr` takes a slice (`x[:n]`, `x[n:]`) of data held in one of `names`."""
    return any(
        isinstance(node, ast.Subscript)
        and any(isinstance(s, ast.Slice) for s in ast.walk(node.slice))
        and data_names(node.value) & names
        for node in ast.walk(expr)
    )


def derived_names(names: set[str], scope: Scope, after: tuple[int, int]) -> set[str]:
    """`names` and the names of `scope` bound after `after` to data computed from them:
    assigned, iterated over or `.append`ed to a list."""
    found = set(names)
    changed = True
    while changed:
        changed = False
        for name, bindings in scope.bindings.items():
            if name not in found and any(
                b.pos > after and b.value is not None and data_names(b.value) & found
                for b in bindings
            ):
                found.add(name)
                changed = True
        for site in scope.calls:
            func = site.node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr in {"append", "extend", "insert"}
                and (site.node.lineno, site.node.col_offset) > after
                and data_names(site.node) - data_names(func.value) & found
                and (receiver := root_name(func.value)) not in found
                and receiver is not None
            ):
                found.add(receiver)
                changed = True
    return found
