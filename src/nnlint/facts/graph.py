"""Networks as small data-flow graphs: which activation feeds which layer, what is returned.

A graph is built backwards from a network's outputs (the values `forward`/`call` return, a
functional model's `outputs`, the end of a Sequential), so only what reaches the output is
modelled. Rules ask the `Network` summary: hidden activations, the output activation, and
whether the first layer normalises its input.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nnlint import tables
from nnlint.facts.layers import LayerClassifier, LayerSpec, layer_name
from nnlint.facts.scope import ClassInfo, Scope
from nnlint.facts.values import Resolver, argument

# Nodes a value flows through unchanged as far as the next weight layer is concerned.
_THROUGH = frozenset({"pass", "norm"})
_WEIGHTED = frozenset({"weight", "network", "recurrent", "attention"})
_MAX_DEPTH = 40


@dataclass(eq=False)
class GNode:
    """One operation in a network graph."""

    kind: str  # input weight act gate pass norm embedding recurrent attention network unknown
    node: ast.AST
    act: str | None = None
    units: int | None = None
    ref: str | None = None
    inputs: list[GNode] = field(default_factory=list)
    consumers: list[GNode] = field(default_factory=list)

    @property
    def activation(self) -> str | None:
        """The activation this node applies (a Keras Dense applies its `activation=`)."""
        if self.kind in {"act", "weight"}:
            return self.act
        return None


@dataclass(frozen=True)
class Output:
    """What a network returns: the activation (None = unknown) and where it is applied."""

    act: str | None
    node: ast.AST | None
    units: int | None = None
    ref: str | None = None


@dataclass(eq=False)
class Network:
    """A model: a Sequential, an nn.Module/keras.Model subclass or a functional model."""

    name: str
    node: ast.AST
    framework: str
    nodes: list[GNode]
    outputs: list[GNode]
    recurrent: bool
    submodules: frozenset[str] = frozenset()
    methods: frozenset[str] = frozenset()
    first: list[GNode] = field(default_factory=list)  # of the tuple every return returns

    def hidden_activations(self, kinds: frozenset[str]) -> list[GNode]:
        """Activations of `kinds` whose output feeds another weight layer and gates nothing."""
        found = []
        for gnode in self.nodes:
            if gnode.activation not in kinds:
                continue
            if _feeds(gnode, {"gate"}, through=_THROUGH):
                continue
            if _feeds(gnode, _WEIGHTED, through=_THROUGH):
                found.append(gnode)
        return found

    def feeds_a_layer(self, gnode: GNode) -> bool:
        """Whether `gnode`'s output reaches another weight layer: a hidden layer, not an
        output layer."""
        return _feeds(gnode, _WEIGHTED, through=_THROUGH | {"act"})

    def output(self, element: int | None = None) -> Output:
        """The activation applied last before the network's output; `element=0`: before the
        first element of the tuple it returns (`logits, features = model(x)`)."""
        chosen = self.first if element == 0 and self.first else self.outputs
        results = {_output_of(o) for o in chosen}
        if len(results) != 1:
            return Output(None, None)
        return results.pop()

    def normalises_input(self) -> bool:
        """False only when the input goes straight into a weight layer; a first layer that
        scales, embeds or does anything we cannot see counts as normalising."""
        inputs = [n for n in self.nodes if n.kind == "input"]
        direct = any(_feeds(n, {"weight"}, through={"pass"}) for n in inputs)
        other = {"norm", "embedding", "unknown", "act", "gate", "network", "recurrent", "attention"}
        return not direct or any(_feeds(n, other, through={"pass"}) for n in inputs)


def _feeds(
    start: GNode, kinds: set[str] | frozenset[str], through: set[str] | frozenset[str]
) -> bool:
    seen: set[int] = set()
    stack = list(start.consumers)
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.kind in kinds:
            return True
        if current.kind in through:
            stack.extend(current.consumers)
    return False


def _output_of(gnode: GNode) -> Output:
    current = gnode
    for _ in range(_MAX_DEPTH):
        if current.kind == "pass" and len(current.inputs) == 1:
            current = current.inputs[0]
            continue
        if current.kind == "act":
            return Output(current.act, current.node, _units_before(current))
        if current.kind == "weight":
            return Output(current.act or "linear", current.node, current.units)
        if current.kind == "network":
            return Output(None, current.node, ref=current.ref)
        break
    return Output(None, None)


def _units_before(gnode: GNode) -> int | None:
    current = gnode
    for _ in range(_MAX_DEPTH):
        if len(current.inputs) != 1:
            return None
        current = current.inputs[0]
        if current.kind == "weight":
            return current.units
        if current.kind not in {"pass", "norm"}:
            return None
    return None


class GraphBuilder:
    """Builds one network's graph; `attrs` are the `self.x = ...` layers of its class."""

    def __init__(
        self, resolver: Resolver, classifier: LayerClassifier, cls: ClassInfo | None = None
    ) -> None:
        self.resolver = resolver
        self.classifier = classifier
        self.cls = cls
        self.nodes: list[GNode] = []
        self._memo: dict[int, list[GNode]] = {}
        self._attr_specs: dict[str, LayerSpec] = {}
        self._input: GNode | None = None
        # a helper method's parameters -> what its caller passed (`self.decode(z)`)
        self._arguments: dict[tuple[int, str], list[GNode]] = {}

    # -- construction -------------------------------------------------------------------
    def add(self, kind: str, node: ast.AST, inputs: list[GNode], **info: object) -> GNode:
        gnode = GNode(kind, node, inputs=list(inputs), **info)  # type: ignore[arg-type]
        for source in inputs:
            source.consumers.append(gnode)
        self.nodes.append(gnode)
        return gnode

    def input(self, node: ast.AST) -> GNode:
        if self._input is None:
            self._input = self.add("input", node, [])
        return self._input

    def from_spec(self, spec: LayerSpec, inputs: list[GNode], at: ast.AST | None = None) -> GNode:
        """Nodes for a layer applied to `inputs`; a Sequential becomes a chain."""
        if spec.kind == "sequential":
            current = inputs
            for child in spec.children:
                current = [self.from_spec(child, current)]
            return (
                current[0]
                if current and current is not inputs
                else self.add("pass", spec.node, inputs)
            )
        act = spec.act if spec.act not in {"linear"} else None
        return self.add(spec.kind, at or spec.node, inputs, act=act, units=spec.units, ref=spec.ref)

    # -- evaluation ---------------------------------------------------------------------
    def value(self, expr: ast.expr, scope: Scope, depth: int = 0) -> list[GNode]:
        """The graph nodes that produce the value of `expr`."""
        if depth > _MAX_DEPTH:
            return []
        if isinstance(expr, ast.Name):
            return self._name(expr, scope, depth)
        if isinstance(expr, ast.Call):
            key = id(expr)
            if key not in self._memo:
                self._memo[key] = []
                self._memo[key] = self._call(expr, scope, depth)
            return self._memo[key]
        if isinstance(expr, ast.BinOp):
            sources = self.value(expr.left, scope, depth + 1) + self.value(
                expr.right, scope, depth + 1
            )
            kind = "gate" if isinstance(expr.op, ast.Mult | ast.MatMult) else "pass"
            return [self.add(kind, expr, sources)]
        if isinstance(expr, ast.Subscript | ast.Starred):
            return self.value(expr.value, scope, depth + 1)
        if isinstance(expr, ast.Tuple | ast.List):
            return [n for e in expr.elts for n in self.value(e, scope, depth + 1)]
        if isinstance(expr, ast.IfExp):
            return self.value(expr.body, scope, depth + 1) + self.value(
                expr.orelse, scope, depth + 1
            )
        return []

    def _name(self, expr: ast.Name, scope: Scope, depth: int) -> list[GNode]:
        origins = self.resolver.origins(expr, scope)
        if not origins:
            binding = scope.bindings.get(expr.id)
            if binding and binding[0].kind in {"param", "default"}:
                return self._arguments.get((id(scope), expr.id)) or [self.input(expr)]
            return []
        nodes: list[GNode] = []
        for origin in origins:
            if origin.expr is expr:
                continue
            if isinstance(origin.expr, ast.Call) and self._is_model_input(
                origin.expr, origin.scope
            ):
                nodes.append(self.input(origin.expr))
            else:
                nodes.extend(self.value(origin.expr, origin.scope, depth + 1))
        return nodes

    def _is_model_input(self, call: ast.Call, scope: Scope) -> bool:
        qualname = self.resolver.call_name(call, scope) or ""
        return qualname in {"keras.Input", "keras.layers.Input"}

    def _call(self, call: ast.Call, scope: Scope, depth: int) -> list[GNode]:
        func = call.func
        first = call.args[0] if call.args else None
        inputs = self.value(first, scope, depth + 1) if first is not None else []
        spec = self._layer_called(func, scope)
        if spec is not None:
            return [self.from_spec(spec, inputs, at=call if spec.kind != "sequential" else None)]
        qualname = self.resolver.call_name(call, scope) or ""
        if qualname in tables.ACTIVATION_FUNCTIONS:
            return [self.add("act", call, inputs, act=tables.ACTIVATION_FUNCTIONS[qualname])]
        if qualname in tables.GATING_FUNCTIONS:
            return [self.add("gate", call, self._all_args(call, scope, depth))]
        if qualname in tables.SHAPE_FUNCTIONS:
            return [self.add("pass", call, self._all_args(call, scope, depth))]
        if qualname in {
            "torch.nn.functional.linear",
            "torch.nn.functional.conv2d",
            "torch.nn.functional.conv1d",
        }:
            return [self.add("weight", call, inputs)]
        method = self._helper_method(func)
        if method is not None:
            return self._method_result(method, call, scope, depth)
        if isinstance(func, ast.Attribute) and not qualname:
            receiver = self.value(func.value, scope, depth + 1)
            if func.attr in tables.ACTIVATION_METHODS:
                return [self.add("act", call, receiver, act=tables.ACTIVATION_METHODS[func.attr])]
            if func.attr in tables.GATING_METHODS:
                return [self.add("gate", call, receiver + self._all_args(call, scope, depth))]
            if func.attr in tables.SHAPE_METHODS:
                return [self.add("pass", call, receiver)]
        return [self.add("unknown", call, self._all_args(call, scope, depth))]

    def _helper_method(self, func: ast.expr) -> Scope | None:
        """The method of this network's class that `self.name(...)` calls, when `name` is
        a method and not a layer stored on `self`."""
        attr = _self_attribute(func)
        if attr is None or self.cls is None or isinstance(func, ast.Subscript):
            return None
        if attr in self.cls.attributes or attr in {"forward", "call"}:
            return None
        return self.cls.methods.get(attr)

    def _method_result(
        self, method: Scope, call: ast.Call, scope: Scope, depth: int
    ) -> list[GNode]:
        """The values a helper method returns, its parameters bound to the call's arguments
        (context-insensitive: the first call seen binds them)."""
        params = [p for p in method.params if p != "self"]
        for index, name in enumerate(params):
            key = (id(method), name)
            if key in self._arguments:
                continue
            arg = argument(call, name, index)
            self._arguments[key] = self.value(arg, scope, depth + 1) if arg is not None else []
        nodes = [n for ret in method.returns for n in self.value(ret, method, depth + 1)]
        return nodes or [self.add("unknown", call, self._all_args(call, scope, depth))]

    def _all_args(self, call: ast.Call, scope: Scope, depth: int) -> list[GNode]:
        values = [*call.args, *(kw.value for kw in call.keywords)]
        return [n for a in values for n in self.value(a, scope, depth + 1)]

    def _layer_called(self, func: ast.expr, scope: Scope) -> LayerSpec | None:
        """The layer a call applies: `self.fc(x)`, `Dense(10)(x)`, `layer(x)` over a ModuleList."""
        if isinstance(func, ast.Call):
            spec = self.classifier.classify_call(func, scope)
            if spec.kind == "unknown":
                return _keras_merge(func, self.resolver, scope) or spec
            return spec
        attr = _self_attribute(func)
        if attr is not None and self.cls is not None and self._helper_method(func) is None:
            return self.attr_spec(attr)
        if isinstance(func, ast.Name):
            found = scope.bindings.get(func.id)
            if found and found[-1].kind == "for" and found[-1].value is not None:
                container = _self_attribute(found[-1].value)
                if container is not None and self.cls is not None:
                    return _element_spec(self.attr_spec(container))
            origins = self.resolver.origins(func, scope)
            if len(origins) == 1 and isinstance(origins[0].expr, ast.Call):
                spec = self.classifier.classify_call(origins[0].expr, origins[0].scope)
                if spec.kind != "unknown":
                    return spec
        return None

    def attr_spec(self, attr: str) -> LayerSpec:
        """The layer stored in `self.<attr>`, classified once."""
        if attr not in self._attr_specs:
            assigned = self.cls.attributes.get(attr, []) if self.cls else []
            specs = [self.classifier.classify(value, scope) for value, scope in assigned]
            spec = LayerSpec("unknown", ast.Pass())
            if specs and len({s.kind for s in specs}) == 1:
                spec = specs[0]
            if spec.kind == "unknown" and assigned:
                spec = self._container(*assigned[0]) or spec
            self._attr_specs[attr] = spec
        return self._attr_specs[attr]

    def _container(self, expr: ast.expr, scope: Scope) -> LayerSpec | None:
        """`nn.ModuleList([...])`: a container whose elements are summarised as one spec."""
        origins = self.resolver.origins(expr, scope)
        if len(origins) != 1 or not isinstance(origins[0].expr, ast.Call):
            return None
        call = origins[0].expr
        qualname = self.resolver.call_name(call, origins[0].scope) or ""
        if qualname not in {"torch.nn.ModuleList", "torch.nn.ModuleDict"}:
            return None
        items = self.classifier.sequential_items(call, origins[0].scope)
        children = [self.classifier.classify(e, s) for e, s in items]
        return LayerSpec("container", call, children=children)


def _element_spec(spec: LayerSpec) -> LayerSpec | None:
    if spec.kind in {"container", "sequential"} and spec.children:
        kinds = {c.kind for c in spec.children}
        if len(kinds) == 1:
            return spec.children[0]
    return None


def _self_attribute(expr: ast.expr) -> str | None:
    """`self.fc` or `self.layers[0]` -> the attribute name."""
    if isinstance(expr, ast.Subscript):
        expr = expr.value
    if (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "self"
    ):
        return expr.attr
    return None


def _keras_merge(call: ast.Call, resolver: Resolver, scope: Scope) -> LayerSpec | None:
    """Keras merge layers: `Multiply()([a, b])` gates, `Add()`/`Concatenate()` pass through."""
    framework, name = layer_name(resolver.call_name(call, scope))
    if framework != "keras":
        return None
    if name in {"Multiply", "Dot"}:
        return LayerSpec("gate", call)
    if name in {"Add", "Concatenate", "Subtract", "Average", "Maximum", "Minimum"}:
        return LayerSpec("pass", call)
    return None


def network_refs(specs: list[LayerSpec]) -> frozenset[str]:
    """Classes of user networks used as layers (inside Sequentials and ModuleLists too)."""
    refs: set[str] = set()
    for spec in specs:
        if spec.kind == "network" and spec.ref:
            refs.add(spec.ref)
        refs |= network_refs(spec.children)
    return frozenset(refs)


def contains_kind(specs: list[LayerSpec], kinds: set[str]) -> bool:
    """True when any spec (or a child of a Sequential/container) has one of `kinds`."""
    return any(s.kind in kinds or contains_kind(s.children, kinds) for s in specs)
