"""PyTorch training-step facts: backward, optimizer and scheduler steps, gradient resets,
grad-free contexts, mode switches (`eval`/`train`) and the layers a network builds.

A *step loop* is the innermost loop around a `backward()` call that also steps an
optimizer (directly or through a local helper): one iteration is one training step.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from nnlint.facts.graph import Network
from nnlint.facts.layers import LayerClassifier, layer_name
from nnlint.facts.names import dotted, iterated, name_tokens
from nnlint.facts.scope import CallSite, Loop, Scope
from nnlint.facts.values import Resolver, keyword

_SCHEDULER_PREFIXES = (
    "torch.optim.lr_scheduler.",
    "transformers.get_",
    "transformers.optimization.get_",
    "timm.scheduler.",
)
_OPTIMIZER_PREFIXES = (
    "torch.optim.",
    "transformers.AdamW",
    "transformers.Adafactor",
    "transformers.optimization.",
    "bitsandbytes.optim.",
    "apex.optimizers.",
    "timm.optim.",
    "torch_optimizer.",
)
PLATEAU = frozenset({"torch.optim.lr_scheduler.ReduceLROnPlateau"})
GRAD_SCALERS = frozenset(
    {
        "torch.cuda.amp.GradScaler",
        "torch.amp.GradScaler",
        "torch.GradScaler",
        "torch.cuda.amp.grad_scaler.GradScaler",
        "torch.amp.grad_scaler.GradScaler",
    }
)
NO_GRAD = frozenset(
    {
        "torch.no_grad",
        "torch.inference_mode",
        "torch.autograd.no_grad",
        "torch.autograd.inference_mode",
        "torch.autograd.grad_mode.no_grad",
        "torch.autograd.grad_mode.inference_mode",
        "torch.set_grad_enabled",
        "torch.autograd.set_grad_enabled",
    }
)
AUTOCAST = frozenset(
    {
        "torch.autocast",
        "torch.amp.autocast",
        "torch.cuda.amp.autocast",
        "torch.amp.autocast_mode.autocast",
    }
)
GRAD_CLIPPING = frozenset(
    {"clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients", "clip_grad"}
)
DROPOUT_LAYERS = frozenset(
    {"Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"}
)
BATCHNORM_LAYERS = frozenset(
    {
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "LazyBatchNorm1d",
        "LazyBatchNorm2d",
        "LazyBatchNorm3d",
        "SyncBatchNorm",
    }
)
TORCH_RECURRENT = frozenset({"RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"})
_MAX_DEPTH = 6


@dataclass(eq=False)
class StepLoop:
    """The innermost loop around `backward()` calls that also steps an optimizer."""

    node: Loop
    scope: Scope
    backwards: list[CallSite]
    steps: list[CallSite] = field(default_factory=list)


class LoopFacts:
    """Training-step questions about one module, answered from the collected calls."""

    def __init__(self, resolver: Resolver, classifier: LayerClassifier, tree: ast.Module) -> None:
        self.resolver = resolver
        self.classifier = classifier
        self.collected = resolver.collected
        self.tree = tree
        self._memo: dict[tuple[str, int], bool] = {}

    # -- what a call does -----------------------------------------------------------------
    def step_kind(self, site: CallSite) -> str | None:
        """'optimizer' for an optimizer step (also `scaler.step(opt)`), 'scheduler' for an
        LR scheduler's step, 'plateau' for ReduceLROnPlateau's; None when not known."""
        func = site.node.func
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == "optimizer_step":
            return "optimizer"
        if func.attr != "step":
            return None
        qualnames = self.origin_calls(func.value, site.scope)
        if qualnames and all(q in PLATEAU for q in qualnames):
            return "plateau"
        if any(q.startswith(_SCHEDULER_PREFIXES) for q in qualnames):
            return "scheduler"
        if any(q in GRAD_SCALERS for q in qualnames) and site.node.args:
            return "optimizer"
        if any(q.startswith(_OPTIMIZER_PREFIXES) for q in qualnames):
            return "optimizer"
        tokens = name_tokens((dotted(func.value) or "").replace(".", "_"))
        if any(t.startswith("sched") for t in tokens):
            return "scheduler"
        if any(t.startswith("opt") for t in tokens):
            return "optimizer"
        if "scaler" in tokens and site.node.args:
            return "optimizer"
        return None

    def origin_calls(self, expr: ast.expr, scope: Scope) -> list[str]:
        """Qualified names of the calls a value was built by (`self.optimizers()` -> the
        Lightning accessor)."""
        names = []
        for origin in self.resolver.origins(expr, scope):
            if isinstance(origin.expr, ast.Call):
                qualname = self.resolver.call_name(origin.expr, origin.scope)
                func = origin.expr.func
                if qualname is None and isinstance(func, ast.Attribute):
                    qualname = {"optimizers": "torch.optim.Optimizer"}.get(func.attr)
                if qualname:
                    names.append(qualname)
        return names

    @staticmethod
    def is_backward(site: CallSite) -> bool:
        func = site.node.func
        return isinstance(func, ast.Attribute) and func.attr == "backward"

    @staticmethod
    def is_zero_grad(site: CallSite) -> bool:
        """`optimizer.zero_grad()`, `model.zero_grad(set_to_none=True)`, `p.grad.zero_()`,
        or a helper named for it (`zero_gradients(model)`)."""
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in {"zero_", "detach_", "fill_"} and isinstance(func, ast.Attribute):
            return "grad" in (dotted(func.value) or "").split(".")
        return "zero" in name_tokens(name) and "grad" in "".join(name_tokens(name))

    @staticmethod
    def mode_switch(site: CallSite) -> str | None:
        """'eval' for `m.eval()` / `m.train(False)`, 'train' for `m.train()` / `m.train(flag)`."""
        func = site.node.func
        if not isinstance(func, ast.Attribute):
            return None
        if func.attr == "eval":
            return None if site.node.args or site.node.keywords else "eval"
        if func.attr == "train" and len(site.node.args) + len(site.node.keywords) <= 1:
            value = site.node.args[0] if site.node.args else keyword(site.node, "mode")
            if isinstance(value, ast.Constant) and value.value is False:
                return "eval"
            if value is None or not isinstance(value, ast.Constant) or value.value is True:
                return "train"
        return None

    # -- local helpers ------------------------------------------------------------------
    def callee(self, site: CallSite) -> Scope | None:
        """The scope of the module function or method (`self.m(...)`) a call runs."""
        return self.resolver.callee(site)

    def reaches(
        self, site: CallSite, what: str, test: Callable[[CallSite], bool], depth: int = 0
    ) -> bool:
        """True when a call does `test`, or runs a local function that does (transitively)."""
        if test(site):
            return True
        target = self.callee(site)
        if target is None or depth > _MAX_DEPTH:
            return False
        key = (what, id(target))
        if key not in self._memo:
            self._memo[key] = False
            self._memo[key] = any(self.reaches(s, what, test, depth + 1) for s in target.calls)
        return self._memo[key]

    def steps_optimizer(self, site: CallSite) -> bool:
        return self.reaches(site, "step", lambda s: self.step_kind(s) == "optimizer")

    def zeroes_grads(self, site: CallSite) -> bool:
        return self.reaches(site, "zero", self.is_zero_grad)

    def switches_to(self, site: CallSite, mode: str) -> bool:
        return self.reaches(site, mode, lambda s: self.mode_switch(s) == mode)

    # -- step loops ---------------------------------------------------------------------
    @cached_property
    def step_loops(self) -> list[StepLoop]:
        """For each `backward()` call in a loop, the innermost enclosing loop that also
        steps an optimizer; calls in unit tests are left out."""
        found: dict[int, StepLoop] = {}
        for scope in self.collected.scopes:
            if scope.in_test:
                continue
            steps = [s for s in scope.calls if s.loops and self.steps_optimizer(s)]
            for site in scope.calls:
                if not (self.is_backward(site) and site.loops):
                    continue
                for loop in reversed(site.loops):
                    inside = [s for s in steps if loop in s.loops]
                    if inside:
                        entry = found.setdefault(id(loop), StepLoop(loop, scope, [], inside))
                        entry.backwards.append(site)
                        break
        return list(found.values())

    def backward_loops(self) -> Iterator[tuple[Scope, list[CallSite]]]:
        """Per scope outside tests, its `backward()` calls that sit in a loop."""
        for scope in self.collected.scopes:
            if scope.in_test:
                continue
            sites = [s for s in scope.calls if s.loops and self.is_backward(s)]
            if sites:
                yield scope, sites

    def has_grad_reset(self, loop: Loop, scope: Scope) -> bool:
        """True when the loop zeroes gradients: a zero_grad call (also through a helper) or
        `p.grad = None`."""
        if any(loop in s.loops and self.zeroes_grads(s) for s in scope.calls):
            return True
        return any(
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and node.value.value is None
            and any(isinstance(t, ast.Attribute) and t.attr == "grad" for t in node.targets)
            for node in walk_body(loop)
        )

    # -- contexts -----------------------------------------------------------------------
    @cached_property
    def parents(self) -> dict[int, ast.AST]:
        parents: dict[int, ast.AST] = {}
        for node in ast.walk(self.tree):
            for child in ast.iter_child_nodes(node):
                parents[id(child)] = node
        return parents

    def ancestors(self, node: ast.AST, scope: Scope) -> Iterator[ast.AST]:
        """Enclosing nodes of `node` up to (not including) its scope's node."""
        current = self.parents.get(id(node))
        while current is not None and current is not scope.node:
            yield current
            current = self.parents.get(id(current))

    def grad_free(self, node: ast.AST, scope: Scope, depth: int = 0) -> bool:
        """True when `node` runs with autograd off: inside `with torch.no_grad()` (or
        inference_mode, set_grad_enabled), a function decorated with one, after a
        `torch.set_grad_enabled(False)` statement, or in a helper called from such a place."""
        for parent in self.ancestors(node, scope):
            if isinstance(parent, ast.With | ast.AsyncWith) and any(
                self._is_no_grad(item.context_expr, scope) for item in parent.items
            ):
                return True
        if not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return self._disabled_before(node, scope)
        if any(self._is_no_grad(d, scope.parent or scope) for d in scope.node.decorator_list):
            return True
        if self._disabled_before(node, scope):
            return True
        return depth < _MAX_DEPTH and any(
            self.grad_free(s.node, s.scope, depth + 1) for s in self.callers(scope)
        )

    def _disabled_before(self, node: ast.AST, scope: Scope) -> bool:
        line = getattr(node, "lineno", 0)
        return any(
            s.qualname in NO_GRAD and s.node.lineno < line and _is_statement(s, self.parents)
            for s in scope.calls
        )

    def _is_no_grad(self, expr: ast.expr, scope: Scope) -> bool:
        target = expr.func if isinstance(expr, ast.Call) else expr
        return self.resolver.qualname(target, scope) in NO_GRAD

    def callers(self, scope: Scope) -> list[CallSite]:
        """Calls of a module function (`f(...)`) or a method (`self.f(...)`) in this module."""
        if not isinstance(scope.node, ast.FunctionDef | ast.AsyncFunctionDef):
            return []
        name = scope.node.name
        found = []
        for site in self.collected.calls:
            func = site.node.func
            if (scope.class_name is None and isinstance(func, ast.Name) and func.id == name) or (
                scope.class_name is not None
                and isinstance(func, ast.Attribute)
                and func.attr == name
                and isinstance(func.value, ast.Name)
                and func.value.id == "self"
            ):
                found.append(site)
        return found

    # -- data ---------------------------------------------------------------------------
    @staticmethod
    def loop_source(loop: Loop) -> ast.expr | None:
        """What a `for` loop iterates, through `tqdm(...)`, `enumerate(...)`, `iter(...)`."""
        if not isinstance(loop, ast.For | ast.AsyncFor):
            return None
        return iterated(loop.iter)

    # -- networks -----------------------------------------------------------------------
    def network_layers(self, network: Network) -> frozenset[str]:
        """Class names of the framework layers a network of this module builds (its own
        layers and those of local helper functions; not other networks')."""
        sites: list[CallSite] = []
        if isinstance(network.node, ast.ClassDef):
            cls = self.collected.classes.get(network.node.name)
            if cls is not None:
                for method in cls.methods.values():
                    sites.extend(method.calls)
        elif isinstance(network.node, ast.Call):
            by_node = self._sites_by_node
            owner = by_node.get(id(network.node))
            if owner is not None:
                for node in ast.walk(network.node):
                    if id(node) in by_node:
                        sites.append(by_node[id(node)])
                for expr, scope in self.classifier.sequential_items(network.node, owner.scope):
                    for origin in self.resolver.origins(expr, scope):
                        sites.extend(
                            by_node[id(n)] for n in ast.walk(origin.expr) if id(n) in by_node
                        )
        names: set[str] = set()
        seen: set[int] = set()
        while sites:
            site = sites.pop()
            if id(site) in seen:
                continue
            seen.add(id(site))
            framework, name = layer_name(site.qualname)
            if framework:
                names.add(name)
            func = site.node.func
            if isinstance(func, ast.Name) and func.id in self.collected.functions:
                sites.extend(self.collected.functions[func.id].calls)
        return frozenset(names)

    @cached_property
    def _sites_by_node(self) -> dict[int, CallSite]:
        return {id(site.node): site for site in self.collected.calls}

    def site_of(self, call: ast.Call) -> CallSite | None:
        return self._sites_by_node.get(id(call))


def walk_body(loop: Loop) -> Iterator[ast.AST]:
    """Nodes of a loop's body and else-branch, not descending into nested definitions."""
    stack: list[ast.AST] = [*loop.body, *loop.orelse]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        stack.extend(ast.iter_child_nodes(node))


def loop_blocks(body: list[ast.stmt]) -> Iterator[list[ast.stmt]]:
    """`body` and each statement list nested in it by `if` (both branches), `with` and `try`
    (body, else, finally, then each handler): the blocks that run at one loop's level.
    Nested loops and definitions are not entered."""
    yield body
    for stmt in body:
        for block in _inner_blocks(stmt):
            yield from loop_blocks(block)


def _inner_blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    if isinstance(stmt, ast.If):
        return [stmt.body, stmt.orelse]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return [stmt.body]
    if isinstance(stmt, ast.Try):
        return [stmt.body, stmt.orelse, stmt.finalbody, *(h.body for h in stmt.handlers)]
    return []


def _is_statement(site: CallSite, parents: dict[int, ast.AST]) -> bool:
    """`torch.set_grad_enabled(False)` as a statement of its own."""
    arg = site.node.args[0] if site.node.args else None
    return (
        isinstance(parents.get(id(site.node)), ast.Expr)
        and isinstance(arg, ast.Constant)
        and arg.value is False
    )


def is_optimizer(qualname: str | None) -> bool:
    """An optimizer constructor (`torch.optim.AdamW`), not a scheduler or SWA helper."""
    return (
        bool(qualname)
        and (
            qualname.startswith(_OPTIMIZER_PREFIXES)  # type: ignore[union-attr]
            and not qualname.startswith(_SCHEDULER_PREFIXES)  # type: ignore[union-attr]
            and not qualname.startswith("torch.optim.swa_utils")  # type: ignore[union-attr]
            and qualname.rpartition(".")[2][:1].isupper()  # type: ignore[union-attr]
        )
    )


def is_scheduler(qualname: str | None) -> bool:
    """An LR scheduler constructor (`torch.optim.lr_scheduler.OneCycleLR`)."""
    return bool(qualname) and qualname.startswith(_SCHEDULER_PREFIXES)  # type: ignore[union-attr]
