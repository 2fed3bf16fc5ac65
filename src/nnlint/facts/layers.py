"""What a layer constructor builds: `nn.Linear(64, 10)`, `Dense(1, activation="sigmoid")`..."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from nnlint import tables
from nnlint.facts.scope import Scope
from nnlint.facts.values import Resolver, argument, keyword

TORCH_MODULE_BASES = frozenset(
    {
        "torch.nn.Module",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.LightningModule",
    }
)
KERAS_MODEL_BASES = frozenset({"keras.Model", "keras.models.Model", "keras.layers.Layer"})
SEQUENTIAL = frozenset({"torch.nn.Sequential", "keras.Sequential", "keras.models.Sequential"})
KERAS_FUNCTIONAL = frozenset({"keras.Model", "keras.models.Model"})


@dataclass(eq=False)
class LayerSpec:
    """One layer: its kind (weight, act, pass, norm, embedding, recurrent, attention,
    sequential, network, unknown), the activation it applies and its output size."""

    kind: str
    node: ast.AST
    act: str | None = None
    units: int | None = None
    children: list[LayerSpec] = field(default_factory=list)
    ref: str | None = None
    framework: str = "torch"


def layer_name(qualname: str | None) -> tuple[str | None, str]:
    """Split `torch.nn.Linear` into ('torch', 'Linear'); frameworks we do not know give None."""
    if not qualname:
        return None, ""
    last = qualname.rpartition(".")[2]
    if qualname.startswith("torch.nn.") and not qualname.startswith("torch.nn.functional."):
        return "torch", last
    if qualname.startswith("keras."):
        return "keras", last
    return None, last


class LayerClassifier:
    """Turns layer-building expressions into `LayerSpec`s for one module."""

    def __init__(self, resolver: Resolver, module_name: str, network_classes: set[str]) -> None:
        self.resolver = resolver
        self.module_name = module_name
        self.network_classes = network_classes
        self._added_by_origin: dict[int, list[tuple[ast.expr, Scope]]] | None = None

    def classify(self, expr: ast.expr, scope: Scope, depth: int = 0) -> LayerSpec:
        origins = self.resolver.origins(expr, scope)
        calls = [o for o in origins if isinstance(o.expr, ast.Call) and o.index is None]
        if len(calls) != 1 or depth > 6:
            return LayerSpec("unknown", expr)
        return self.classify_call(calls[0].expr, calls[0].scope, depth)

    def classify_call(self, call: ast.Call, scope: Scope, depth: int = 0) -> LayerSpec:
        qualname = self.resolver.call_name(call, scope)
        framework, name = layer_name(qualname)
        if qualname in SEQUENTIAL:
            children = [
                self.classify(e, s, depth + 1) for e, s in self.sequential_items(call, scope)
            ]
            return LayerSpec("sequential", call, children=children, framework=framework or "")
        if framework == "torch":
            return self._torch_layer(call, scope, name)
        if framework == "keras":
            return self._keras_layer(call, scope, name)
        ref = self.network_ref(call, scope)
        if ref is not None:
            return LayerSpec("network", call, ref=ref)
        return LayerSpec("unknown", call)

    def network_ref(self, call: ast.Call, scope: Scope) -> str | None:
        """`Net(...)` where Net is a network class of this module or imported from another."""
        func = call.func
        if isinstance(func, ast.Name) and func.id in self.network_classes:
            return f"{self.module_name}.{func.id}"
        qualname = self.resolver.call_name(call, scope)
        if qualname and not qualname.startswith(("torch.", "keras.", "tensorflow.")):
            return qualname if "." in qualname else None
        return None

    def _torch_layer(self, call: ast.Call, scope: Scope, name: str) -> LayerSpec:
        if name in tables.TORCH_WEIGHT_LAYERS:
            position = tables.TORCH_WEIGHT_LAYERS[name]
            units = argument(call, "out_features", position)
            if units is None:
                units = argument(call, "out_channels", position)
            return LayerSpec("weight", call, units=self._units(units, scope))
        if name in tables.TORCH_ACTIVATION_MODULES:
            return LayerSpec("act", call, act=tables.TORCH_ACTIVATION_MODULES[name])
        return LayerSpec(_kind_by_name(name), call)

    def _units(self, expr: ast.expr | None, scope: Scope) -> int | None:
        """A layer's width when it is a literal or a constant the resolver can follow."""
        value = self.resolver.constant(expr, scope)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _keras_layer(self, call: ast.Call, scope: Scope, name: str) -> LayerSpec:
        if name in tables.KERAS_WEIGHT_LAYERS:
            position = tables.KERAS_WEIGHT_LAYERS[name]
            units = None if position is None else argument(call, "units", position)
            if units is None and name.startswith("Conv"):
                units = argument(call, "filters", 0)
            act_expr = keyword(call, "activation")
            if act_expr is None and name == "Dense" and len(call.args) > 1:
                act_expr = call.args[1]
            act = self.keras_activation(act_expr, scope) if act_expr is not None else "linear"
            return LayerSpec(
                "weight", call, act=act, units=self._units(units, scope), framework="keras"
            )
        if name == "Activation":
            act_expr = argument(call, "activation", 0)
            act = self.keras_activation(act_expr, scope) if act_expr is not None else None
            return LayerSpec("act", call, act=act, framework="keras")
        if name in tables.KERAS_ACTIVATION_LAYERS:
            return LayerSpec(
                "act", call, act=tables.KERAS_ACTIVATION_LAYERS[name], framework="keras"
            )
        return LayerSpec(_kind_by_name(name), call, framework="keras")

    def keras_activation(self, expr: ast.expr | None, scope: Scope) -> str | None:
        """`"sigmoid"`, `tf.nn.sigmoid`, `keras.activations.tanh` -> the activation's name."""
        if expr is None:
            return None
        value = self.resolver.constant(expr, scope)
        if isinstance(value, str):
            return tables.KERAS_ACTIVATION_STRINGS.get(value.lower(), "other")
        if isinstance(expr, ast.Constant) and expr.value is None:
            return "linear"
        qualname = self.resolver.qualname(expr, scope)
        if qualname in tables.ACTIVATION_FUNCTIONS:
            return tables.ACTIVATION_FUNCTIONS[qualname]
        return None

    def sequential_items(self, call: ast.Call, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        """The layers of a Sequential or ModuleList, in order: arguments, lists,
        OrderedDicts, and later `.add`/`.append`/`.add_module` calls on it."""
        items: list[tuple[ast.expr, Scope]] = []
        for arg in call.args:
            if isinstance(arg, ast.Starred) or self._is_list(arg, scope):
                items.extend(self.list_items(getattr(arg, "value", arg), scope))
            else:
                items.append((arg, scope))
        layers_kw = keyword(call, "layers")
        if layers_kw is not None:
            items.extend(self.list_items(layers_kw, scope))
        items.extend(self._added().get(id(call), []))
        return items

    def _added(self) -> dict[int, list[tuple[ast.expr, Scope]]]:
        """Layers added by `.add`/`.add_module`/`.append`/`.extend` calls, by the `id` of
        the container they reach: found once per module, not once per network."""
        if self._added_by_origin is None:
            self._added_by_origin = {}
            for site in self.resolver.collected.calls:
                func = site.node.func
                if (
                    isinstance(func, ast.Attribute)
                    and func.attr in {"add", "add_module", "append", "extend"}
                    and site.node.args
                ):
                    for origin in {
                        id(o.expr) for o in self.resolver.origins(func.value, site.scope)
                    }:
                        added = self._added_by_origin.setdefault(origin, [])
                        added.append((site.node.args[-1], site.scope))
        return self._added_by_origin

    def _is_list(self, expr: ast.expr, scope: Scope) -> bool:
        """True for a list/tuple/OrderedDict of layers (literal or through a name)."""
        if isinstance(expr, ast.Name):
            origins = self.resolver.origins(expr, scope)
            return len(origins) == 1 and self._is_list(origins[0].expr, origins[0].scope)
        if isinstance(expr, ast.Call):
            qualname = self.resolver.call_name(expr, scope)
            is_list_call = isinstance(expr.func, ast.Name) and expr.func.id == "list"
            return qualname == "collections.OrderedDict" or is_list_call
        return isinstance(expr, ast.List | ast.Tuple | ast.ListComp | ast.GeneratorExp)

    def list_items(self, expr: ast.expr, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        """Elements of a list built literally, by `append`/`extend`/`+=`, or an OrderedDict."""
        if isinstance(expr, ast.List | ast.Tuple):
            items: list[tuple[ast.expr, Scope]] = []
            for elt in expr.elts:
                if isinstance(elt, ast.Tuple) and len(elt.elts) == 2:
                    items.append((elt.elts[1], scope))
                elif isinstance(elt, ast.Starred):
                    items.extend(self.list_items(elt.value, scope))
                else:
                    items.append((elt, scope))
            return items
        if isinstance(expr, ast.Call):
            qualname = self.resolver.call_name(expr, scope)
            if qualname in {"collections.OrderedDict", "list"} and expr.args:
                return self.list_items(expr.args[0], scope)
            if isinstance(expr.func, ast.Name) and expr.func.id == "list" and expr.args:
                return self.list_items(expr.args[0], scope)
            return []
        if isinstance(expr, ast.ListComp | ast.GeneratorExp):
            return [(expr.elt, scope)]
        if not isinstance(expr, ast.Name):
            return []
        return self._built_list(expr.id, scope)

    def _built_list(self, name: str, scope: Scope) -> list[tuple[ast.expr, Scope]]:
        events: list[tuple[tuple[int, int], list[tuple[ast.expr, Scope]]]] = []
        for binding in scope.bindings.get(name, []):
            if binding.value is not None and binding.kind in {"assign", "aug"}:
                events.append((binding.pos, self.list_items(binding.value, scope)))
        for site in scope.calls:
            func = site.node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == name
                and site.node.args
            ):
                pos = (site.node.lineno, site.node.col_offset)
                if func.attr in {"append", "add"}:
                    events.append((pos, [(site.node.args[0], scope)]))
                elif func.attr == "extend":
                    events.append((pos, self.list_items(site.node.args[0], scope)))
        events.sort(key=lambda e: e[0])
        return [item for _, items in events for item in items]


def _kind_by_name(name: str) -> str:
    if name in tables.RECURRENT_LAYERS:
        return "recurrent"
    if name in tables.ATTENTION_LAYERS:
        return "attention"
    if name in tables.NORMALISATION_LAYERS:
        return "norm"
    if name in tables.EMBEDDING_LAYERS:
        return "embedding"
    if name in tables.PASS_THROUGH_LAYERS:
        return "pass"
    if name in {"Input"}:
        return "input"
    return "unknown"
