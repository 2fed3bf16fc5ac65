"""One walk over a module: scopes, bindings, calls, classes and loops.

Everything later stages need about names and where values come from is collected here, so
no other stage walks the whole tree again.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nnlint.facts.names import add_import, canonical, dotted

Loop = ast.For | ast.AsyncFor | ast.While
FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(eq=False)
class Binding:
    """One assignment of a name: `value` is the right-hand side, `index` its tuple position.

    `pos` is where the binding takes effect (the end of its statement), so `x = f(x)` reads
    the earlier `x`.
    """

    pos: tuple[int, int]
    value: ast.expr | None
    kind: str  # assign | unpack | for | with | param
    index: int | None = None


@dataclass(eq=False)
class CallSite:
    """A call, where it is and what it calls."""

    node: ast.Call
    scope: Scope
    qualname: str | None
    loops: tuple[Loop, ...]
    targets: tuple[str, ...] = ()


@dataclass(eq=False)
class Scope:
    """A module or function body with the names it binds."""

    node: ast.AST
    name: str
    parent: Scope | None
    class_name: str | None = None
    in_test: bool = False
    params: list[str] = field(default_factory=list)
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    calls: list[CallSite] = field(default_factory=list)
    returns: list[ast.expr] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)

    def bind(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


@dataclass(eq=False)
class ClassInfo:
    """A class definition: its bases, methods and the `self.x = ...` attributes it sets."""

    node: ast.ClassDef
    name: str
    bases: list[str]
    methods: dict[str, Scope] = field(default_factory=dict)
    attributes: dict[str, list[tuple[ast.expr, Scope]]] = field(default_factory=dict)


class Collector(ast.NodeVisitor):
    """Walks a module once and fills scopes, calls and classes."""

    def __init__(self, module_name: str, is_test_file: bool = False) -> None:
        self.module_name = module_name
        self.is_test_file = is_test_file
        self.imports: dict[str, str] = {}
        self.module_scope: Scope | None = None
        self.scopes: list[Scope] = []
        self.functions: dict[str, Scope] = {}
        self.classes: dict[str, ClassInfo] = {}
        self.calls: list[CallSite] = []
        self._training_calls: tuple[int, list[CallSite]] = (0, [])
        self._scope: Scope | None = None
        self._class: ClassInfo | None = None
        self._loops: list[Loop] = []

    def run(self, tree: ast.Module) -> None:
        scope = Scope(tree, "<module>", None, in_test=self.is_test_file)
        self.module_scope = scope
        self.scopes.append(scope)
        self._scope = scope
        self.generic_visit(tree)
        for site in self.calls:
            site.qualname = self.qualname(site.node.func)
        for cls in self.classes.values():
            cls.bases = [self.qualname(b) or dotted(b) or "" for b in cls.node.bases]

    @property
    def training_calls(self) -> list[CallSite]:
        """Calls outside unit tests: tests train toy models on purpose (filtered again only
        when calls were added since)."""
        if self._training_calls[0] != len(self.calls):
            kept = [site for site in self.calls if not site.scope.in_test]
            self._training_calls = (len(self.calls), kept)
        return self._training_calls[1]

    def visit_Import(self, node: ast.Import) -> None:
        add_import(self.imports, node, self.module_name)

    visit_ImportFrom = visit_Import

    # -- names --------------------------------------------------------------------------
    def qualname(self, expr: ast.expr) -> str | None:
        """The imported qualified name an expression refers to, if any."""
        name = dotted(expr)
        if name is None:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            base = self.imports[head]
            return canonical(f"{base}.{rest}") if rest else base
        return None

    # -- scopes -------------------------------------------------------------------------
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        for base in node.bases:
            self.visit(base)
        outer = self._class
        info = ClassInfo(node, node.name, [])
        if outer is None and self._scope is self.module_scope:
            self.classes[node.name] = info
        self._class = info
        for stmt in node.body:
            self.visit(stmt)
        self._class = outer
        assert self._scope is not None
        self._scope.bind(node.name, Binding((node.lineno, 0), None, "class"))

    def _visit_function(self, node: FunctionNode) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        outer_scope, outer_loops = self._scope, self._loops
        assert outer_scope is not None
        outer_scope.bind(node.name, Binding((node.lineno, 0), None, "def"))
        cls = self._class
        in_test = (
            outer_scope.in_test
            or node.name.startswith("test_")
            or (cls is not None and _is_test_class(cls.name))
        )
        scope = Scope(node, node.name, outer_scope, cls.name if cls else None, in_test)
        args = node.args
        positional = [a.arg for a in (*args.posonlyargs, *args.args)]
        scope.params = positional + [a.arg for a in args.kwonlyargs]
        for arg in (*positional, *(a.arg for a in args.kwonlyargs)):
            scope.bind(arg, Binding((node.lineno, 0), None, "param"))
        for extra in (args.vararg, args.kwarg):
            if extra:
                scope.bind(extra.arg, Binding((node.lineno, 0), None, "param"))
        defaults = args.defaults
        for arg, default in zip(
            positional[len(positional) - len(defaults) :], defaults, strict=True
        ):
            self.visit(default)
            scope.bind(arg, Binding((node.lineno, 0), default, "default"))
        self.scopes.append(scope)
        if cls is not None:
            cls.methods[node.name] = scope
        elif outer_scope is self.module_scope:
            self.functions[node.name] = scope
        self._scope, self._loops, self._class = scope, [], None
        for stmt in node.body:
            self.visit(stmt)
        self._scope, self._loops, self._class = outer_scope, outer_loops, cls

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    # -- bindings -----------------------------------------------------------------------
    def _bind_target(
        self, target: ast.expr, value: ast.expr | None, kind: str, after: ast.AST
    ) -> None:
        assert self._scope is not None
        pos = (after.end_lineno or 0, after.end_col_offset or 0)
        if isinstance(target, ast.Name):
            self._scope.bind(target.id, Binding(pos, value, kind))
        elif isinstance(target, ast.Tuple | ast.List):
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Name):
                    self._scope.bind(elt.id, Binding(pos, value, "unpack", i))
                elif isinstance(elt, ast.Tuple | ast.List):
                    for inner in ast.walk(elt):
                        if isinstance(inner, ast.Name):
                            self._scope.bind(inner.id, Binding(pos, value, "unpack", i))
                elif isinstance(elt, ast.Starred) and isinstance(elt.value, ast.Name):
                    self._scope.bind(elt.value.id, Binding(pos, None, "unpack"))
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and value is not None
        ):
            cls = self._enclosing_class()
            if cls is not None:
                cls.attributes.setdefault(target.attr, []).append((value, self._scope))

    def _enclosing_class(self) -> ClassInfo | None:
        scope = self._scope
        if scope is None or scope.class_name is None:
            return None
        return self.classes.get(scope.class_name)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self._bind_target(target, node.value, "assign", node)
            if not isinstance(target, ast.Name):
                self.visit(target)
        self._mark_targets(node.value, node.targets)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self._bind_target(node.target, node.value, "assign", node)
            self._mark_targets(node.value, [node.target])

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        """`x += [...]` binds the added value (lists built piecewise); `x *= g` binds the
        product `x * g`, so a gate stays a gate."""
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            assert self._scope is not None
            value: ast.expr = node.value
            if isinstance(node.op, ast.Mult | ast.MatMult | ast.Div):
                current = ast.copy_location(ast.Name(node.target.id, ast.Load()), node)
                value = ast.copy_location(ast.BinOp(current, node.op, node.value), node)
            pos = (node.end_lineno or 0, node.end_col_offset or 0)
            self._scope.bind(node.target.id, Binding(pos, value, "aug"))

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind_target(node.target, node.value, "assign", node)

    def _mark_targets(self, value: ast.expr, targets: list[ast.expr]) -> None:
        if not isinstance(value, ast.Call) or not self.calls or self.calls[-1].node is not value:
            return
        names: list[str] = []
        for target in targets:
            elts = target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
            names.extend(e.id for e in elts if isinstance(e, ast.Name))
        self.calls[-1].targets = tuple(names)

    def _visit_loop(self, node: Loop) -> None:
        assert self._scope is not None
        self._scope.loops.append(node)
        if isinstance(node, ast.For | ast.AsyncFor):
            self.visit(node.iter)
            self._bind_target(node.target, node.iter, "for", node.iter)
        else:
            self.visit(node.test)
        self._loops.append(node)
        for stmt in node.body:
            self.visit(stmt)
        self._loops.pop()
        for stmt in node.orelse:
            self.visit(stmt)

    visit_For = _visit_loop
    visit_AsyncFor = _visit_loop
    visit_While = _visit_loop

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, item.context_expr, "with", item.context_expr)
        for stmt in node.body:
            self.visit(stmt)

    visit_AsyncWith = visit_With

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self.visit(node.iter)
        self._bind_target(node.target, node.iter, "for", node.iter)
        for cond in node.ifs:
            self.visit(cond)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            self.visit(node.value)
            assert self._scope is not None
            self._scope.returns.append(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        self.visit(node.func)
        for arg in node.args:
            self.visit(arg)
        for kw in node.keywords:
            self.visit(kw.value)
        assert self._scope is not None
        site = CallSite(node, self._scope, None, tuple(self._loops))
        self._scope.calls.append(site)
        self.calls.append(site)


def _is_test_class(name: str) -> bool:
    return name.startswith("Test") or name.endswith(("Test", "Tests", "TestCase"))


def is_test_file(name: str) -> bool:
    """pytest's `test_x.py` and `conftest.py` hold tests, not training runs (`x_test.py`
    files are recognised by their test functions and classes instead)."""
    stem = name.rsplit(".", 1)[0]
    return stem.startswith("test_") or stem == "conftest"
