"""Where a value comes from: follow names, parameters, returns and `.to(device)` wrappers."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from nnlint.facts.names import canonical, dotted
from nnlint.facts.scope import Binding, CallSite, ClassInfo, Collector, Scope

_MAX_DEPTH = 12
_CASTS = {"int": int, "float": float}

# Calls that hand back (a wrapper of) their receiver or first argument unchanged in kind.
_SAME_VALUE_METHODS = frozenset(
    {"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "to_empty", "requires_grad_"}
)
_SAME_VALUE_WRAPPERS = frozenset(
    {
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.compile",
    }
)


@dataclass(frozen=True, eq=False)
class Origin:
    """An expression a value was built from; `index` picks an element of a tuple result."""

    expr: ast.expr
    scope: Scope
    index: int | None = None


class Resolver:
    """Answers questions about values in one module."""

    def __init__(self, collected: Collector) -> None:
        self.collected = collected
        self.module_scope = collected.module_scope
        self.imports = collected.imports
        self._callers: dict[str, list[CallSite]] = {}
        for site in collected.calls:
            func = site.node.func
            if isinstance(func, ast.Name) and (
                func.id in collected.functions or func.id in collected.classes
            ):
                self._callers.setdefault(func.id, []).append(site)
        self.argparse_defaults = self._argparse_defaults()
        self._memo: dict[tuple[int, int, int | None], list[Origin]] = {}

    # -- names --------------------------------------------------------------------------
    def qualname(self, expr: ast.expr, scope: Scope, depth: int = 0) -> str | None:
        """Fully-qualified name of what `expr` refers to, through imports and local aliases."""
        name = dotted(expr)
        if name is None or depth > _MAX_DEPTH:
            return None
        head, _, rest = name.partition(".")
        binding = self._binding(head, scope, position(expr))
        if binding is None or binding[0].kind in {"class", "def"}:
            if head in self.imports:
                base = self.imports[head]
                return canonical(f"{base}.{rest}") if rest else base
            if binding is not None and binding[1] is self.module_scope:
                return f"{head}.{rest}" if rest else head
            return None
        found, owner = binding
        if found.kind == "assign" and found.value is not None and dotted(found.value):
            base = self.qualname(found.value, owner, depth + 1)
            if base:
                return canonical(f"{base}.{rest}") if rest else base
        return None

    def call_name(self, call: ast.Call, scope: Scope) -> str | None:
        """Qualified name of the callee of `call`."""
        return self.qualname(call.func, scope)

    def _binding(
        self, name: str, scope: Scope, pos: tuple[int, int]
    ) -> tuple[Binding, Scope] | None:
        """The binding of `name` visible at `pos`: the latest before it in the nearest scope."""
        current: Scope | None = scope
        while current is not None:
            bindings = current.bindings.get(name)
            if bindings:
                before = [b for b in bindings if b.pos <= pos] if current is scope else []
                return (before or bindings)[-1], current
            current = current.parent
        return None

    # -- values -------------------------------------------------------------------------
    def origins(self, expr: ast.expr, scope: Scope, depth: int = 0) -> list[Origin]:
        """The expressions a value may have been built from (after following names)."""
        return list(self._origins(expr, scope, None, depth))

    def _origins(
        self, expr: ast.expr, scope: Scope, index: int | None, depth: int
    ) -> Iterator[Origin]:
        """Memoised: each (expression, scope, index) is followed once; a cycle yields nothing."""
        if depth > _MAX_DEPTH:
            return
        key = (id(expr), id(scope), index)
        if key not in self._memo:
            self._memo[key] = []
            self._memo[key] = list(self._follow(expr, scope, index, depth))
        yield from self._memo[key]

    def _follow(
        self, expr: ast.expr, scope: Scope, index: int | None, depth: int
    ) -> Iterator[Origin]:
        if isinstance(expr, ast.Name):
            yield from self._name_origins(expr, scope, index, depth)
            return
        if index is not None and isinstance(expr, ast.Tuple | ast.List):
            if index < len(expr.elts) and not any(isinstance(e, ast.Starred) for e in expr.elts):
                yield from self._origins(expr.elts[index], scope, None, depth + 1)
            return
        if isinstance(expr, ast.Attribute) and _is_self(expr.value):
            assigned = self.self_attribute(expr.attr, scope)
            if assigned:
                for value, owner in assigned:
                    yield from self._origins(value, owner, index, depth + 1)
                return
        if isinstance(expr, ast.Call):
            inner = self._same_value(expr, scope)
            if inner is not None:
                yield from self._origins(inner, scope, index, depth + 1)
                return
            func = expr.func
            if isinstance(func, ast.Name) and func.id in self.collected.functions:
                target = self.collected.functions[func.id]
                for ret in target.returns:
                    yield from self._origins(ret, target, index, depth + 1)
                if target.returns:
                    return
        yield Origin(expr, scope, index)

    def enclosing_class(self, scope: Scope) -> ClassInfo | None:
        """The module-level class whose method `scope` is (or is nested in)."""
        current: Scope | None = scope
        while current is not None:
            if current.class_name is not None:
                return self.collected.classes.get(current.class_name)
            current = current.parent
        return None

    def self_attribute(self, attr: str, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        """The values assigned to `self.<attr>` in the class that `scope` belongs to."""
        cls = self.enclosing_class(scope)
        return cls.attributes.get(attr, []) if cls is not None else []

    def _same_value(self, call: ast.Call, scope: Scope) -> ast.expr | None:
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _SAME_VALUE_METHODS:
            return func.value
        if call.args and self.call_name(call, scope) in _SAME_VALUE_WRAPPERS:
            return call.args[0]
        return None

    def _name_origins(
        self, expr: ast.Name, scope: Scope, index: int | None, depth: int
    ) -> Iterator[Origin]:
        found = self._binding(expr.id, scope, position(expr))
        if found is None:
            return
        binding, owner = found
        if binding.kind in {"assign", "aug"} and binding.value is not None:
            yield from self._origins(binding.value, owner, index, depth + 1)
        elif binding.kind == "unpack" and binding.value is not None:
            if index is None:
                yield from self._origins(binding.value, owner, binding.index, depth + 1)
        elif binding.kind in {"param", "default"}:
            found_any = False
            for origin in self._param_origins(expr.id, owner, index, depth):
                found_any = True
                yield origin
            if not found_any and binding.kind == "default" and binding.value is not None:
                yield from self._origins(binding.value, owner, index, depth + 1)

    def arguments(self, expr: ast.Name, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        """When `expr` is a parameter, the expressions its callers in this module pass for
        it (`validate(val_loader)` for `loader`), each with the caller's scope."""
        found = self._binding(expr.id, scope, position(expr))
        if found is None or found[0].kind not in {"param", "default"}:
            return []
        return self._passed(expr.id, found[1])

    def _param_origins(
        self, name: str, scope: Scope, index: int | None, depth: int
    ) -> Iterator[Origin]:
        """Follow a parameter to the arguments its callers in this module pass."""
        for arg, caller in self._passed(name, scope):
            yield from self._origins(arg, caller, index, depth + 1)

    def _passed(self, name: str, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        """What the callers in this module pass for parameter `name` of `scope`: callers of
        a module function, or instantiations `Cls(...)` for the parameters of
        `Cls.__init__`."""
        if not isinstance(scope.node, ast.FunctionDef):
            return []
        position = scope.params.index(name) if name in scope.params else -1
        callee = scope.node.name
        if scope.class_name is not None:
            if callee != "__init__":
                return []
            callee, position = scope.class_name, position - 1
        passed = []
        for site in self._callers.get(callee, []):
            arg = argument(site.node, name, position)
            if arg is not None:
                passed.append((arg, site.scope))
        return passed

    def callee(self, site: CallSite) -> Scope | None:
        """The scope of the module function or method (`self.m(...)`) a call runs."""
        func = site.node.func
        if isinstance(func, ast.Name):
            return self.collected.functions.get(func.id)
        if isinstance(func, ast.Attribute) and _is_self(func.value):
            cls = self.enclosing_class(site.scope)
            return cls.methods.get(func.attr) if cls is not None else None
        return None

    def constant(self, expr: ast.expr | None, scope: Scope) -> object:
        """A literal value for `expr` when it can be known statically, else None."""
        if expr is None:
            return None
        if isinstance(expr, ast.Attribute) and expr.attr in self.argparse_defaults:
            base = self.origins(expr.value, scope)
            if all(isinstance(o.expr, ast.Call) for o in base):
                return self.constant(self.argparse_defaults[expr.attr], self.module_scope)
        for origin in self.origins(expr, scope):
            value = origin.expr
            if isinstance(value, ast.Constant) and origin.index is None:
                return value.value
            if (
                isinstance(value, ast.UnaryOp)
                and isinstance(value.op, ast.USub)
                and isinstance(value.operand, ast.Constant)
                and isinstance(value.operand.value, int | float)
            ):
                return -value.operand.value
            if value is not expr and isinstance(value, ast.Attribute):
                return self.constant(value, origin.scope)
            found = (
                self._call_constant(value, origin.scope) if isinstance(value, ast.Call) else None
            )
            if found is not None:
                return found
        return None

    def _call_constant(self, call: ast.Call, scope: Scope) -> object:
        """`int(x)`/`float(x)` of a known value, and the default of `options.get(key,
        default)`, the value when the key is not set (as for argparse defaults)."""
        func = call.func
        if isinstance(func, ast.Name) and func.id in _CASTS and len(call.args) == 1:
            if self._binding(func.id, scope, position(call)) is not None:
                return None  # a local `int` or `float`
            value = self.constant(call.args[0], scope)
            try:
                return _CASTS[func.id](value) if isinstance(value, int | float | str) else None
            except ValueError:
                return None
        if isinstance(func, ast.Attribute) and func.attr == "get" and len(call.args) == 2:
            return self.constant(call.args[1], scope)
        return None

    def _argparse_defaults(self) -> dict[str, ast.expr]:
        defaults: dict[str, ast.expr] = {}
        for site in self.collected.calls:
            call = site.node
            if not (isinstance(call.func, ast.Attribute) and call.func.attr == "add_argument"):
                continue
            default = keyword(call, "default")
            dest = keyword(call, "dest")
            names = [a.value for a in call.args if isinstance(a, ast.Constant)]
            if isinstance(dest, ast.Constant) and isinstance(dest.value, str):
                key = dest.value
            else:
                longs = [n for n in names if isinstance(n, str) and n.startswith("--")]
                if not longs and not names:
                    continue
                key = str((longs or names)[0]).lstrip("-").replace("-", "_")
            if default is not None:
                defaults[key] = default
        return defaults


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """The value passed to keyword `name`, or None."""
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def argument(call: ast.Call, name: str, position: int) -> ast.expr | None:
    """The value passed for a parameter, by keyword or by position (-1: keyword only)."""
    value = keyword(call, name)
    if value is not None:
        return value
    if 0 <= position < len(call.args):
        if any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
            return None
        return call.args[position]
    return None


def has_star_args(call: ast.Call) -> bool:
    """True when the call passes `*args` or `**kwargs` we cannot see into."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(
        kw.arg is None for kw in call.keywords
    )


def position(node: ast.AST) -> tuple[int, int]:
    """Where a node starts, for comparing with binding positions."""
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _is_self(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Name) and expr.id == "self"
