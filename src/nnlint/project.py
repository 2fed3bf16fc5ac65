"""The project index: facts of every module in a run, joined across files."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nnlint.config import Settings
from nnlint.configs import ConfigFile, config_key
from nnlint.facts import ModuleFacts
from nnlint.facts.graph import Network, Output
from nnlint.facts.losses import LossUse
from nnlint.facts.training import KerasFit
from nnlint.rules import Hit
from nnlint.source import SourceFile


@dataclass(frozen=True)
class Pairing:
    """A loss applied to a network's output, possibly in another module."""

    loss: LossUse
    loss_module: ModuleFacts
    network: Network
    network_module: ModuleFacts


def module_name(path: Path) -> str:
    """The dotted name a file is imported by: its stem, prefixed by enclosing packages."""
    parts = [] if path.stem == "__init__" else [path.stem]
    parent = path.parent
    while (parent / "__init__.py").is_file() and parent.name:
        parts.insert(0, parent.name)
        parent = parent.parent
    return ".".join(parts) or path.parent.name


class Project:
    """All modules of one run, with cross-module lookups."""

    def __init__(
        self,
        modules: list[ModuleFacts],
        broken: list[SourceFile] | None = None,
        configs: list[ConfigFile] | None = None,
        settings: Settings | None = None,
        context: set[str] | None = None,
    ) -> None:
        self.modules = modules
        self.settings = settings or Settings()
        self.context = context or set()  # files read for context: findings there are dropped
        self.broken = broken or []
        self.configs = configs or []
        self._configs = {c.key: c for c in self.configs}
        self.wanted: dict[str, set[str]] = {}
        self._by_name: dict[str, list[ModuleFacts]] = {}
        self._users: dict[str, list[tuple[Network, ModuleFacts]]] = {}
        for module in modules:
            self._by_name.setdefault(module.module_name, []).append(module)
            for network in module.networks.values():
                for ref in network.submodules:
                    self._users.setdefault(ref, []).append((network, module))

    def network(self, key: str, origin: ModuleFacts) -> tuple[Network, ModuleFacts] | None:
        """Resolve a network key from `origin`: its own module first, then the module it
        imports, the closest one on disk when several files share a module name.

        Every network asked for is recorded in `wanted`, so a run can tell which files must
        be analysed together."""
        if key in origin.networks:
            return origin.networks[key], origin
        module, _, name = key.rpartition(".")
        if name[:1].isupper() and not (name.isupper() and "_" in name):
            self.wanted.setdefault(origin.path, set()).add(key)
        candidates = [m for m in self._by_name.get(module, []) if key in m.networks]
        if not candidates:
            return None
        here = Path(origin.source.path).resolve().parent
        ranked = sorted(candidates, key=lambda m: -_shared_depth(here, Path(m.source.path)))
        if len(ranked) > 1 and _shared_depth(here, Path(ranked[0].source.path)) == _shared_depth(
            here, Path(ranked[1].source.path)
        ):
            return None
        return ranked[0].networks[key], ranked[0]

    def relocated(self, hit: Hit, *places: tuple[str, ast.AST]) -> Hit:
        """`hit`, moved to the first of `places` in a file this run reports on when its own
        file was only read for context (`nnlint train.py` with the softmax in `models.py`:
        report at the loss in train.py and name the softmax's place)."""
        if hit.path not in self.context:
            return hit
        for path, node in places:
            if path not in self.context:
                where = f"{hit.path}:{hit.position[0]}"
                return Hit(path, node, f"{hit.message} (at {where})", hit.help)
        return hit

    def config_file(self, path: Path, origin: ModuleFacts) -> ConfigFile | None:
        """The config at `path` when it is a file of this run; asking for it records it in
        `wanted`, so the code and the config are analysed together."""
        key = config_key(path)
        if key not in self._configs:
            self.wanted.setdefault(origin.path, set()).add(key)
        return self._configs.get(key)

    def training_configs(self) -> list[ConfigFile]:
        """Configs of this run recognised as training configs that parsed."""
        return [c for c in self.configs if c.training and c.error is None]

    def is_sequence_model(self, network: Network, module: ModuleFacts, depth: int = 0) -> bool:
        """True when the network, or a network it uses as a layer, is recurrent or attends."""
        if network.recurrent:
            return True
        if depth > 8:
            return False
        for ref in network.submodules:
            found = self.network(ref, module)
            if found is not None and self.is_sequence_model(*found, depth + 1):
                return True
        return False

    def part_of_sequence_model(self, network: Network, module: ModuleFacts, depth: int = 0) -> bool:
        """True when the network, a network inside it, or a network that uses it as a layer
        (a classification head inside a transformer) is recurrent or attends."""
        if self.is_sequence_model(network, module):
            return True
        if depth > 8:
            return False
        return any(
            self.part_of_sequence_model(parent, owner, depth + 1)
            for parent, owner in self._users.get(network.name, [])
        )

    def output_of(
        self, network: Network, module: ModuleFacts, depth: int = 0, element: int | None = None
    ) -> tuple[Output, ModuleFacts]:
        """A network's output (`element=0`: the first of the tuple it returns) and the module
        it is in, following a sub-network that produces it (`return self.backbone(x)`)."""
        output = network.output(element if depth == 0 else None)
        if output.ref is None or depth > 8:
            return output, module
        found = self.network(output.ref, module)
        return self.output_of(*found, depth + 1) if found else (output, module)

    def keras_fits(self) -> Iterator[tuple[ModuleFacts, KerasFit]]:
        """Keras `fit` calls, with models from other modules confirmed to be Keras models."""
        for module in self.modules:
            for fit in module.keras_fits:
                if fit.confirm is None:
                    yield module, fit
                    continue
                found = self.network(fit.confirm, module)
                if found is not None and found[0].framework == "keras":
                    yield module, fit

    def pairings(self) -> Iterator[Pairing]:
        """Every loss use whose model resolves to a known network."""
        for module in self.modules:
            for use in module.loss_uses:
                if use.model is None:
                    continue
                found = self.network(use.model, module)
                if found is not None:
                    yield Pairing(use, module, found[0], found[1])


def _shared_depth(here: Path, other: Path) -> int:
    other_parts = other.resolve().parent.parts
    depth = 0
    for a, b in zip(here.parts, other_parts, strict=False):
        if a != b:
            break
        depth += 1
    return depth
