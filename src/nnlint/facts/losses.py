"""Where a loss meets a model: `criterion(model(x), y)`, `F.cross_entropy(self(x), y)`,
`model.compile(loss=...)`, and the activations applied to the output on the way."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nnlint import tables
from nnlint.facts.names import dotted
from nnlint.facts.scope import CallSite, ClassInfo, Scope
from nnlint.facts.values import Resolver, argument, keyword

_MAX_STEPS = 12


@dataclass(frozen=True, eq=False)
class LossUse:
    """A loss applied to a model's output.

    `kind` is one of cross_entropy, nll, bce, bce_logits, regression (PyTorch) or
    categorical, binary (Keras, with `from_logits`). `post_act` is an activation applied to the
    model output before the loss, at `post_node`. `named_at` is where the loss is named
    (`nn.BCELoss` in its constructor call, or `F.binary_cross_entropy`), in the same module.
    """

    kind: str
    node: ast.AST
    model: str | None
    framework: str
    from_logits: bool | None = None
    post_act: str | None = None
    post_node: ast.AST | None = None
    named_at: ast.AST | None = None
    element: int | None = None  # 0: the first of the tuple the model returns (`out, h = m(x)`)


ModelKey = Callable[[ast.expr, Scope], "str | None"]


def find_loss_uses(resolver: Resolver, model_key: ModelKey) -> list[LossUse]:
    uses = []
    for site in resolver.collected.training_calls:
        use = _torch_loss(site, resolver, model_key) or _keras_compile(site, resolver, model_key)
        if use is not None:
            uses.append(use)
    return uses + list(_owned_criteria(resolver))


def _owned_criteria(resolver: Resolver) -> Iterator[LossUse]:
    """A model class that keeps its own loss (`self.criterion = nn.CrossEntropyLoss()`, the
    Lightning way) but never calls it in this module: a base class's shared step applies it
    to the model's output, so the pair is judged as if it were called on `self(x)`."""
    collected = resolver.collected
    for name, cls in collected.classes.items():
        for attr, assigned in cls.attributes.items():
            value, scope = assigned[0]
            if len(assigned) != 1 or not isinstance(value, ast.Call):
                continue
            kind = tables.TORCH_LOSSES.get(resolver.call_name(value, scope) or "")
            if kind is not None and not _read(cls, attr):
                key = f"{collected.module_name}.{name}"
                yield LossUse(kind, value, key, "torch", named_at=value.func)


def _read(cls: ClassInfo, attr: str) -> bool:
    """Whether the class reads `self.<attr>` anywhere (calls it, passes it on)."""
    for node in ast.walk(cls.node):
        if (
            isinstance(node, ast.Attribute)
            and node.attr == attr
            and isinstance(node.ctx, ast.Load)
            and dotted(node.value) == "self"
        ):
            return True
    return False


def torch_loss_kind(site: CallSite, resolver: Resolver) -> str | None:
    """The loss kind a call computes: `F.cross_entropy(...)` or `criterion(...)`."""
    if site.qualname in tables.TORCH_LOSSES:
        last = site.qualname.rpartition(".")[2]
        return tables.TORCH_LOSSES[site.qualname] if last[0].islower() else None
    func = site.node.func
    if isinstance(func, ast.Call):  # `nn.CrossEntropyLoss()(logits, y)`
        return tables.TORCH_LOSSES.get(resolver.call_name(func, site.scope) or "")
    if not isinstance(func, ast.Name | ast.Attribute):
        return None
    kinds = set()
    for origin in resolver.origins(func, site.scope):
        if not isinstance(origin.expr, ast.Call):
            return None
        qualname = resolver.call_name(origin.expr, origin.scope)
        if qualname not in tables.TORCH_LOSSES:
            return None
        kinds.add(tables.TORCH_LOSSES[qualname])
    return kinds.pop() if len(kinds) == 1 else None


def _torch_loss(site: CallSite, resolver: Resolver, model_key: ModelKey) -> LossUse | None:
    kind = torch_loss_kind(site, resolver)
    if kind is None:
        return None
    prediction = argument(site.node, "input", 0)
    if prediction is None:
        return None
    model, act, act_node, element = trace_prediction(prediction, site.scope, resolver, model_key)
    if model is None:
        return None
    return LossUse(
        kind,
        site.node,
        model,
        "torch",
        post_act=act,
        post_node=act_node,
        named_at=_loss_name_node(site, resolver),
        element=element,
    )


def _loss_name_node(site: CallSite, resolver: Resolver) -> ast.AST | None:
    """The expression naming the loss: the callee of `F.binary_cross_entropy(...)`, or of
    the one constructor call `criterion` comes from."""
    func = site.node.func
    if site.qualname in tables.TORCH_LOSSES:
        return func
    if isinstance(func, ast.Call):
        return func.func
    origins = resolver.origins(func, site.scope)
    if len(origins) == 1 and isinstance(origins[0].expr, ast.Call):
        return origins[0].expr.func
    return None


def trace_prediction(
    expr: ast.expr, scope: Scope, resolver: Resolver, model_key: ModelKey
) -> tuple[str | None, str | None, ast.AST | None, int | None]:
    """Follow a prediction back to the model call, noting an activation applied on the way
    and whether the prediction is the first element unpacked from the model's output."""
    act: str | None = None
    act_node: ast.AST | None = None
    for _ in range(_MAX_STEPS):
        origins = resolver.origins(expr, scope)
        if len(origins) != 1:
            return None, None, None, None
        origin = origins[0]
        value, scope = origin.expr, origin.scope
        if isinstance(value, ast.Subscript) or not isinstance(value, ast.Call):
            return None, None, None, None
        qualname = resolver.call_name(value, scope)
        func = value.func
        if qualname in tables.ACTIVATION_FUNCTIONS and value.args:
            act, act_node = act or tables.ACTIVATION_FUNCTIONS[qualname], act_node or value
            expr = value.args[0]
            continue
        if isinstance(func, ast.Attribute) and qualname is None:
            if func.attr in tables.ACTIVATION_METHODS:
                act, act_node = act or tables.ACTIVATION_METHODS[func.attr], act_node or value
                expr = func.value
                continue
            if func.attr in {"view", "reshape", "squeeze", "flatten", "contiguous", "float"}:
                expr = func.value
                continue
        if origin.index not in {None, 0}:
            return None, None, None, None
        return model_key(func, scope), act, act_node, origin.index
    return None, None, None, None


def _keras_compile(site: CallSite, resolver: Resolver, model_key: ModelKey) -> LossUse | None:
    func = site.node.func
    if not (isinstance(func, ast.Attribute) and func.attr == "compile"):
        return None
    loss = argument(site.node, "loss", 1)
    if loss is None:
        return None
    kind, from_logits = keras_loss(loss, site.scope, resolver)
    if kind is None:
        return None
    model = model_key(func.value, site.scope)
    if model is None:
        return None
    return LossUse(kind, site.node, model, "keras", from_logits=from_logits)


def keras_loss(expr: ast.expr, scope: Scope, resolver: Resolver) -> tuple[str | None, bool | None]:
    """A Keras loss given as a string, a loss object or a loss function."""
    value = resolver.constant(expr, scope)
    if isinstance(value, str):
        return tables.KERAS_LOSSES.get(value), False
    for origin in resolver.origins(expr, scope):
        candidate = origin.expr
        if isinstance(candidate, ast.Call):
            qualname = resolver.call_name(candidate, origin.scope) or ""
            if not qualname.startswith("keras."):
                return None, None
            kind = tables.KERAS_LOSSES.get(qualname.rpartition(".")[2])
            flag = resolver.constant(keyword(candidate, "from_logits"), origin.scope)
            if keyword(candidate, "from_logits") is not None and not isinstance(flag, bool):
                return None, None
            return kind, bool(flag)
        qualname = resolver.qualname(candidate, origin.scope) or ""
        if qualname.startswith("keras."):
            return tables.KERAS_LOSSES.get(qualname.rpartition(".")[2]), False
    return None, None
