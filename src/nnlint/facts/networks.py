"""Find the networks a module defines and the model a call or name refers to."""

from __future__ import annotations

import ast

from nnlint import tables
from nnlint.facts.graph import GNode, GraphBuilder, Network, contains_kind, network_refs
from nnlint.facts.layers import (
    KERAS_FUNCTIONAL,
    KERAS_MODEL_BASES,
    SEQUENTIAL,
    TORCH_MODULE_BASES,
    LayerClassifier,
    layer_name,
)
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.scope import CallSite, ClassInfo, Collector, Scope
from nnlint.facts.values import Resolver, argument

_SEQUENCE_MODELS = frozenset({"recurrent", "attention"})
_SEQUENCE_LAYERS = tables.RECURRENT_LAYERS | tables.ATTENTION_LAYERS


def network_classes(collected: Collector) -> dict[str, str]:
    """Local classes that are networks, with their framework ('torch' or 'keras')."""
    found: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, cls in collected.classes.items():
            if name in found:
                continue
            for base in cls.bases:
                framework = _base_framework(base) or found.get(base)
                if framework:
                    found[name] = framework
                    changed = True
                    break
    for name, cls in collected.classes.items():
        # A class with `forward` deriving from a model base nnlint does not know
        # (`PreTrainedModel`, a project's own `BaseModel`).
        if name not in found and "forward" in cls.methods and set(cls.bases) - {"object", ""}:
            found[name] = "torch"
    return found


def _base_framework(base: str) -> str | None:
    if base in TORCH_MODULE_BASES or base.endswith("LightningModule"):
        return "torch"
    if base in KERAS_MODEL_BASES:
        return "keras"
    return None


class NetworkFinder:
    """Builds a `Network` for every model a module defines."""

    def __init__(
        self, collected: Collector, resolver: Resolver, classifier: LayerClassifier, module: str
    ) -> None:
        self.collected = collected
        self.resolver = resolver
        self.classifier = classifier
        self.module = module
        self.by_key: dict[str, Network] = {}

    def find(self, frameworks: dict[str, str]) -> dict[str, Network]:
        self._class_calls: dict[str, list[CallSite]] = {}
        for site in self.collected.calls:
            cls = self.resolver.enclosing_class(site.scope)
            if cls is not None:
                self._class_calls.setdefault(cls.name, []).append(site)
        for name, framework in frameworks.items():
            self.by_key[f"{self.module}.{name}"] = self._class_network(
                self.collected.classes[name], framework
            )
        nested = self._nested_calls()
        for site in self.collected.calls:
            if site.qualname in SEQUENTIAL and id(site.node) not in nested:
                self.by_key[call_key(self.module, site.node)] = self._sequential(
                    site.node, site.scope
                )
            elif site.qualname in KERAS_FUNCTIONAL:
                network = self._functional(site.node, site.scope)
                if network is not None:
                    self.by_key[call_key(self.module, site.node)] = network
        return self.by_key

    def _nested_calls(self) -> set[int]:
        """Sequential calls that sit inside another model or a class attribute."""
        nested: set[int] = set()
        for cls in self.collected.classes.values():
            for values in cls.attributes.values():
                for value, _ in values:
                    nested.update(id(n) for n in ast.walk(value))
        for site in self.collected.calls:
            if site.qualname in SEQUENTIAL:
                for arg in (*site.node.args, *(k.value for k in site.node.keywords)):
                    nested.update(id(n) for n in ast.walk(arg))
        return nested

    def _class_network(self, cls: ClassInfo, framework: str) -> Network:
        builder = GraphBuilder(self.resolver, self.classifier, cls)
        method = cls.methods.get("forward") or cls.methods.get("call")
        outputs: list[GNode] = []
        first: list[GNode] = []  # the first element of each tuple returned
        if method is not None:
            for ret in method.returns:
                if isinstance(ret, ast.Tuple):
                    elements = [builder.value(e, method, 1) for e in ret.elts]  # hidden layers
                    outputs.append(builder.add("unknown", ret, []))
                    if elements and not isinstance(ret.elts[0], ast.Starred):
                        first.extend(elements[0])
                else:
                    outputs.extend(builder.value(ret, method))
        recurrent = _sequence_like(builder) or _attention_name(cls.name)
        refs: set[str] = {n.ref for n in builder.nodes if n.ref}
        for site in self._class_calls.get(cls.name, []):
            framework_name, layer = layer_name(site.qualname)
            if framework_name and layer in _SEQUENCE_LAYERS:
                recurrent = True
            if _attention_name(dotted(site.node.func) or ""):
                recurrent = True
            ref = self.classifier.network_ref(site.node, site.scope)
            if ref is not None:
                refs.add(ref)
        return Network(
            f"{self.module}.{cls.name}",
            cls.node,
            framework,
            builder.nodes,
            outputs,
            recurrent,
            refs,
            frozenset(cls.methods),
            first if _returns_tuples(method) else [],
        )

    def _sequential(self, call: ast.Call, scope: Scope) -> Network:
        builder = GraphBuilder(self.resolver, self.classifier)
        spec = self.classifier.classify_call(call, scope)
        output = builder.from_spec(spec, [builder.input(call)])
        framework = (
            "keras"
            if not (self.resolver.call_name(call, scope) or "").startswith("torch")
            else "torch"
        )
        recurrent = contains_kind([spec], set(_SEQUENCE_MODELS)) or _sequence_like(builder)
        return Network(
            call_key(self.module, call),
            call,
            framework,
            builder.nodes,
            [output],
            recurrent,
            network_refs([spec]),
        )

    def _functional(self, call: ast.Call, scope: Scope) -> Network | None:
        outputs_expr = argument(call, "outputs", 1)
        if outputs_expr is None:
            return None
        builder = GraphBuilder(self.resolver, self.classifier)
        outputs = builder.value(outputs_expr, scope)
        recurrent = _sequence_like(builder)
        return Network(
            call_key(self.module, call), call, "keras", builder.nodes, outputs, recurrent
        )


def _attention_name(name: str) -> bool:
    """`BartAttention`, `self.attention_interface(...)`, `scaled_dot_product_attention`."""
    return any(word in {"attention", "attn", "transformer"} for word in name_tokens(name))


def _sequence_like(builder: GraphBuilder) -> bool:
    """Recurrent or attention layers, or a softmax used as weights (attention pooling)."""
    for gnode in builder.nodes:
        if gnode.kind in _SEQUENCE_MODELS:
            return True
        if (
            gnode.kind == "act"
            and gnode.act == "softmax"
            and any(
                c.kind == "gate"
                or (c.kind == "pass" and any(cc.kind == "gate" for cc in c.consumers))
                for c in gnode.consumers
            )
        ):
            return True
    return False


def call_key(module: str, call: ast.AST) -> str:
    """Key of a model built by a call (a Sequential or functional model)."""
    return f"{module}:{getattr(call, 'lineno', 0)}:{getattr(call, 'col_offset', 0)}"


def model_key(
    expr: ast.expr, scope: Scope, resolver: Resolver, classifier: LayerClassifier, module: str
) -> str | None:
    """The key of the network an expression (a model object or `self`) refers to."""
    if (isinstance(expr, ast.Name) and expr.id == "self") or (
        isinstance(expr, ast.Attribute)
        and isinstance(expr.value, ast.Name)
        and expr.value.id == "self"
        and expr.attr == "forward"
    ):
        cls = resolver.enclosing_class(scope)
        return f"{module}.{cls.name}" if cls is not None else None
    if isinstance(expr, ast.Attribute) and expr.attr in {"forward", "__call__", "module"}:
        expr = expr.value
    origins = [o for o in resolver.origins(expr, scope) if o.index is None]
    keys = set()
    for origin in origins:
        if not isinstance(origin.expr, ast.Call):
            return None
        qualname = resolver.call_name(origin.expr, origin.scope)
        if qualname in SEQUENTIAL or qualname in KERAS_FUNCTIONAL:
            keys.add(call_key(module, origin.expr))
        else:
            ref = classifier.network_ref(origin.expr, origin.scope)
            if ref is None:
                return None
            keys.add(ref)
    return keys.pop() if len(keys) == 1 else None


def _returns_tuples(method: Scope | None) -> bool:
    """Every `return` of `forward` returns a tuple."""
    returns = method.returns if method is not None else []
    return bool(returns) and all(isinstance(r, ast.Tuple) for r in returns)
