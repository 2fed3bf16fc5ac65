"""Helpers the training-loop rules (NN303-NN311) share: the loop facts of a module, the
network a call runs and the layers it builds, Lightning scopes and source order."""

from __future__ import annotations

import ast

from nnlint.facts import ModuleFacts
from nnlint.facts.graph import Network
from nnlint.facts.loops import LoopFacts
from nnlint.facts.names import dotted
from nnlint.facts.scope import CallSite, Scope
from nnlint.project import Project


def loop_facts(module: ModuleFacts) -> LoopFacts:
    """The module's loop facts (`extract` sets them for every module)."""
    assert module.loops is not None
    return module.loops


def forward_network(
    project: Project, module: ModuleFacts, site: CallSite
) -> tuple[Network, ModuleFacts] | None:
    """The network a call runs forward (`model(x)`, `self.net(x)`); not `self(x)`."""
    func = site.node.func
    if isinstance(func, ast.Name):
        if func.id == "self":
            return None
    elif not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    key = module.model_key(func, site.scope)
    return project.network(key, module) if key else None


def runs_a_model(project: Project, module: ModuleFacts, site: CallSite) -> bool:
    """The call runs a model forward: a network defined in the linted files, or an object
    this module treats as one (its `.parameters()`, `.eval()` or `.state_dict()` are used)
    whose class is not visible (`net = UNet(...)` imported from elsewhere)."""
    if forward_network(project, module, site) is not None:
        return True
    func = site.node.func
    if isinstance(func, ast.Name) and func.id == "self":
        return False
    if not isinstance(func, ast.Name | ast.Attribute):
        return False
    key = module.model_key(func, site.scope)
    return key is not None and key in module.model_receivers


def builds_layers(
    project: Project, network: Network, module: ModuleFacts, names: frozenset[str], depth: int = 0
) -> bool:
    """True when the network, or a network it uses as a layer, builds one of `names`."""
    if loop_facts(module).network_layers(network) & names:
        return True
    if depth > 6:
        return False
    for ref in network.submodules:
        found = project.network(ref, module)
        if found is not None and builds_layers(project, *found, names, depth + 1):
            return True
    return False


def in_lightning_module(module: ModuleFacts, scope: Scope) -> bool:
    """The scope is a method of a LightningModule (Lightning steps and switches modes)."""
    cls = module.resolver.enclosing_class(scope)
    return cls is not None and any(b.endswith("LightningModule") for b in cls.bases)


def model_label(expr: ast.expr) -> str:
    """How a message names the model: its dotted name, or "the model"."""
    return dotted(expr) or "the model"


def comes_after(node: ast.AST, other: ast.AST) -> bool:
    """`node` starts after `other` in the source."""
    return (node.lineno, node.col_offset) > (other.lineno, other.col_offset)  # type: ignore[attr-defined]
