"""Everything rules need to know about one module, built in one extraction pass."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

from nnlint.facts.data import DATALOADERS, DataFacts, SplitUse, split_calls
from nnlint.facts.graph import Network
from nnlint.facts.layers import LayerClassifier
from nnlint.facts.loops import LoopFacts
from nnlint.facts.losses import LossUse, find_loss_uses
from nnlint.facts.networks import NetworkFinder, model_key, network_classes
from nnlint.facts.scope import Collector, Scope, is_test_file
from nnlint.facts.targets import target_kind
from nnlint.facts.training import EpochLoop, KerasFit, LightningFit, TrainingFacts
from nnlint.facts.values import Resolver, argument
from nnlint.source import SourceFile

# Methods that show their receiver is a model (`net.eval()`, `Adam(net.parameters())`).
_MODEL_METHODS = frozenset(
    {"parameters", "named_parameters", "eval", "train", "state_dict", "load_state_dict"}
)


@dataclass(eq=False)
class ModuleFacts:
    """The training-program facts of one parsed module."""

    source: SourceFile
    module_name: str
    collected: Collector
    resolver: Resolver
    classifier: LayerClassifier
    data: DataFacts
    training: TrainingFacts
    networks: dict[str, Network] = field(default_factory=dict)
    loss_uses: list[LossUse] = field(default_factory=list)
    keras_fits: list[KerasFit] = field(default_factory=list)
    lightning_fits: list[LightningFit] = field(default_factory=list)
    epoch_loops: list[EpochLoop] = field(default_factory=list)
    splits: list[SplitUse] = field(default_factory=list)
    loops: LoopFacts | None = None

    @property
    def path(self) -> str:
        return self.source.display

    def model_key(self, expr: ast.expr, scope: Scope) -> str | None:
        """The network key an expression refers to (see `networks.model_key`)."""
        return model_key(expr, scope, self.resolver, self.classifier, self.module_name)

    def keras_model(self, expr: ast.expr, scope: Scope) -> bool | str:
        """True when `expr` is a Keras model built here, loaded, or from keras.applications;
        the network key when it is a class of another module (the project confirms it)."""
        key = self.model_key(expr, scope)
        if key is not None and key in self.networks:
            return self.networks[key].framework == "keras"
        if key is not None and any(
            q.startswith(("keras", "tensorflow")) for q in self.collected.imports.values()
        ):
            return key
        origins = self.resolver.origins(expr, scope)
        return bool(origins) and all(
            isinstance(o.expr, ast.Call)
            and (self.resolver.call_name(o.expr, o.scope) or "").startswith(
                (
                    "keras.models.",
                    "keras.applications.",
                    "keras.saving.",
                    "keras.Sequential",
                    "keras.Model",
                    "keras_tuner.",
                )
            )
            for o in origins
        )

    def loss_target_kind(self, loss_call: ast.AST) -> str | None:
        """Whether the targets a loss call of this module receives are class labels or
        continuous values (see `targets.target_kind`); None when the code does not show."""
        for site in self.collected.training_calls:
            if site.node is loss_call:
                target = argument(site.node, "target", 1)
                return target_kind(target, site.scope, self.resolver)
        return None

    @cached_property
    def model_receivers(self) -> set[str]:
        """Model keys of the objects this module treats as models: it calls their
        `.parameters()`, `.eval()`, `.train()` or `.state_dict()`."""
        found = set()
        for site in self.collected.calls:
            func = site.node.func
            if isinstance(func, ast.Attribute) and func.attr in _MODEL_METHODS:
                key = self.model_key(func.value, site.scope)
                if key is not None:
                    found.add(key)
        return found

    @cached_property
    def training_loaders(self) -> set[int]:
        """`id`s of the DataLoader calls of this module that a training loop iterates."""
        found: set[int] = set()
        for loop in self.epoch_loops:
            for candidate in (loop.node, *ast.walk(loop.node)):
                if not isinstance(candidate, ast.For):
                    continue
                iterator = candidate.iter
                while (
                    isinstance(iterator, ast.Call)
                    and iterator.args
                    and (self.resolver.call_name(iterator, loop.scope) not in DATALOADERS)
                ):
                    iterator = iterator.args[0]
                for origin in self.resolver.origins(iterator, loop.scope):
                    if isinstance(origin.expr, ast.Call) and (
                        self.resolver.call_name(origin.expr, origin.scope) in DATALOADERS
                    ):
                        found.add(id(origin.expr))
        return found


def extract(source: SourceFile, module_name: str) -> ModuleFacts:
    """Build the facts of a parsed module."""
    assert source.tree is not None
    collected = Collector(module_name, is_test_file(source.path.name))
    collected.run(source.tree)
    resolver = Resolver(collected)
    classes = network_classes(collected)
    classifier = LayerClassifier(resolver, module_name, set(classes))
    data = DataFacts(resolver)
    training = TrainingFacts(resolver, data)
    facts = ModuleFacts(source, module_name, collected, resolver, classifier, data, training)
    facts.networks = NetworkFinder(collected, resolver, classifier, module_name).find(classes)
    facts.loss_uses = find_loss_uses(resolver, facts.model_key)
    facts.keras_fits = training.keras_fits(facts.keras_model)
    facts.lightning_fits = training.lightning_fits()
    facts.epoch_loops = training.epoch_loops()
    facts.splits = split_calls(resolver)
    facts.loops = LoopFacts(resolver, classifier, source.tree)
    return facts
