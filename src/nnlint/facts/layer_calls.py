"""Which layer a network-graph node applies: its constructor call, name and arguments.

Graph nodes of a `forward` point at the call site (`self.fc(x)`); the rules about layer
order (stacked Linear layers, dropout placement, initialisation) need the constructor
(`nn.Linear(64, 10)`), its name and its arguments.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from nnlint import tables
from nnlint.facts.graph import GNode, Network
from nnlint.facts.layers import layer_name
from nnlint.facts.module import ModuleFacts
from nnlint.facts.scope import Scope
from nnlint.facts.values import argument, keyword

_MAX_STEPS = 40


@dataclass(frozen=True)
class Layer:
    """A graph node with the constructor that built it (None when it cannot be told)."""

    gnode: GNode
    call: ast.Call | None
    scope: Scope | None
    framework: str | None
    name: str

    @property
    def is_dense(self) -> bool:
        return self.name in tables.DENSE_LAYERS

    @property
    def is_dropout(self) -> bool:
        return self.name in tables.DROPOUT_LAYERS or self.name in {
            q.rpartition(".")[2] for q in tables.DROPOUT_FUNCTIONS
        }


class NetworkLayers:
    """Answers layer questions about the networks of one module."""

    def __init__(self, module: ModuleFacts) -> None:
        self.module = module
        self.resolver = module.resolver
        self._cache: dict[int, Layer] = {}
        self._scopes = {id(site.node): site.scope for site in module.collected.calls}

    def layer(self, gnode: GNode, network: Network) -> Layer:
        key = id(gnode)
        if key not in self._cache:
            self._cache[key] = self._layer(gnode, network)
        return self._cache[key]

    def _layer(self, gnode: GNode, network: Network) -> Layer:
        found = self._constructor(gnode.node, network)
        if found is None:
            return Layer(gnode, None, None, None, "")
        call, scope = found
        qualname = self.resolver.call_name(call, scope) or ""
        framework, name = layer_name(qualname)
        if qualname in tables.DROPOUT_FUNCTIONS:
            framework, name = "functional", qualname.rpartition(".")[2]
        return Layer(gnode, call, scope, framework, name)

    def _constructor(self, node: ast.AST, network: Network) -> tuple[ast.Call, Scope] | None:
        """`nn.Linear(...)` for the node of `nn.Linear(...)`, `self.fc(x)`, `Dense(8)(x)`
        or `layer(x)` where `layer = nn.Linear(...)`."""
        if not isinstance(node, ast.Call):
            return None
        scope = self._scopes.get(id(node))
        if scope is None:
            return None
        func = node.func
        if isinstance(func, ast.Call):
            return func, scope
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "self"
        ):
            cls = self.module.collected.classes.get(getattr(network.node, "name", ""))
            assigned = cls.attributes.get(func.attr, []) if cls else []
            return self._single_call(assigned)
        if isinstance(func, ast.Name):
            origins = self.resolver.origins(func, scope)
            if (
                len(origins) == 1
                and isinstance(origins[0].expr, ast.Call)
                and origins[0].expr is not node
            ):
                return origins[0].expr, origins[0].scope
        return node, scope

    def _single_call(self, assigned: list[tuple[ast.expr, Scope]]) -> tuple[ast.Call, Scope] | None:
        calls = []
        for value, scope in assigned:
            for origin in self.resolver.origins(value, scope):
                if isinstance(origin.expr, ast.Call) and origin.index is None:
                    calls.append((origin.expr, origin.scope))
        return calls[0] if len(calls) == 1 else None

    # -- arguments ----------------------------------------------------------------------
    def dropout_rate(self, layer: Layer) -> float | None:
        """The rate of a dropout layer or call, when it is known."""
        if layer.call is None or layer.scope is None:
            return None
        return dropout_rate(self.module, layer.call, layer.scope)

    def out_units(self, layer: Layer) -> int | None:
        """The output width of a Linear/Dense layer, from literals, constants and defaults."""
        if layer.call is None or layer.scope is None:
            return None
        if layer.name in {"Dense", "LazyLinear"}:
            expr = argument(layer.call, "units" if layer.name == "Dense" else "out_features", 0)
        else:
            expr = argument(layer.call, "out_features", 1)
        value = self.resolver.constant(expr, layer.scope) if expr is not None else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def keras_linear(self, layer: Layer) -> bool:
        """A Keras layer with no activation (`activation=None`, `"linear"` or absent)."""
        if layer.call is None or layer.scope is None:
            return False
        act = keyword(layer.call, "activation")
        if act is None and layer.name == "Dense" and len(layer.call.args) > 1:
            act = layer.call.args[1]
        if act is None:
            return True
        if isinstance(act, ast.Constant) and act.value is None:
            return True
        return self.resolver.constant(act, layer.scope) == "linear"


def dropout_rate(module: ModuleFacts, call: ast.Call, scope: Scope) -> float | None:
    """The rate of `nn.Dropout(p)`, `F.dropout(x, p)` or `layers.Dropout(rate)`."""
    qualname = module.resolver.call_name(call, scope) or ""
    if qualname in tables.DROPOUT_FUNCTIONS:
        expr = argument(call, "p", tables.DROPOUT_FUNCTIONS[qualname])
        if expr is None:
            expr = keyword(call, "rate")
        default: float | None = 0.5 if qualname.startswith("torch.") else None
    else:
        framework, name = layer_name(qualname)
        if name not in tables.DROPOUT_LAYERS or framework not in {"torch", "keras"}:
            return None
        word, position, default = tables.DROPOUT_RATE_ARGS[framework]
        expr = argument(call, word, position)
    if expr is None:
        return default
    value = module.resolver.constant(expr, scope)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
