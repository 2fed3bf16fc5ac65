"""Everything rules need to know about one module, built in one extraction pass."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property

from nnlint.facts.graph import Network
from nnlint.facts.layers import LayerClassifier
from nnlint.facts.losses import LossUse, find_loss_uses
from nnlint.facts.names import import_table
from nnlint.facts.networks import NetworkFinder, model_key, network_classes
from nnlint.facts.scope import Collector, Scope
from nnlint.facts.values import Resolver
from nnlint.source import SourceFile


@dataclass(eq=False)
class ModuleFacts:
    """The training-program facts of one parsed module."""

    source: SourceFile
    module_name: str
    collected: Collector
    resolver: Resolver
    classifier: LayerClassifier
    networks: dict[str, Network] = field(default_factory=dict)
    loss_uses: list[LossUse] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.source.display

    def model_key(self, expr: ast.expr, scope: Scope) -> str | None:
        """The network key an expression refers to (see `networks.model_key`)."""
        return model_key(expr, scope, self.resolver, self.classifier, self.module_name)

    @cached_property
    def frameworks(self) -> set[str]:
        """Top-level packages the module imports (torch, keras, lightning, ...)."""
        return {q.partition(".")[0] for q in self.collected.imports.values()}


def extract(source: SourceFile, module_name: str) -> ModuleFacts:
    """Build the facts of a parsed module."""
    assert source.tree is not None
    collected = Collector(import_table(source.tree, module_name))
    collected.run(source.tree)
    resolver = Resolver(collected)
    classes = network_classes(collected)
    classifier = LayerClassifier(resolver, module_name, set(classes))
    facts = ModuleFacts(source, module_name, collected, resolver, classifier)
    facts.networks = NetworkFinder(collected, resolver, classifier, module_name).find(classes)
    facts.loss_uses = find_loss_uses(resolver, facts.model_key)
    return facts
