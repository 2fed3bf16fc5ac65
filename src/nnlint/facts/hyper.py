"""Hyper-parameters a module sets: optimizers and their learning rates, batch sizes, warm-up."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

from nnlint import tables
from nnlint.facts.data import DATALOADERS, name_role
from nnlint.facts.module import ModuleFacts
from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.scope import CallSite
from nnlint.facts.training import HF_ARGS
from nnlint.facts.values import argument, has_star_args, keyword


@dataclass(frozen=True)
class OptimizerCall:
    """An optimizer constructor (`torch.optim.Adam(...)`, `keras.optimizers.SGD(...)`) or
    Hugging Face `TrainingArguments` (which builds AdamW)."""

    site: CallSite
    name: str
    framework: str
    lr: ast.expr | None

    def lr_value(self, module: ModuleFacts) -> float | None:
        """The learning rate when known: the one passed, or tf.keras's default when none is."""
        if self.lr is None:
            return self.default_lr(module)
        value = module.resolver.constant(self.lr, self.site.scope)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    def default_lr(self, module: ModuleFacts) -> float | None:
        """tf.keras's default rate for this optimizer when the call passes none (and nothing
        it cannot see, `**kwargs`), where that default is one the range table calls off."""
        if self.framework != "keras" or has_star_args(self.site.node):
            return None
        root = (dotted(self.site.node.func) or "").partition(".")[0]
        if not root or not _from_tensorflow(root, module.source.text):
            return None
        return tables.TF_KERAS_DEFAULT_LR.get(self.name.lower())


def optimizer_calls(module: ModuleFacts) -> Iterator[OptimizerCall]:
    for site in module.collected.training_calls:
        qualname = site.qualname or ""
        if qualname in HF_ARGS:
            yield OptimizerCall(site, "AdamW", "transformers", keyword(site.node, "learning_rate"))
            continue
        if not qualname.startswith(tables.OPTIMIZER_PREFIXES):
            continue
        name = qualname.rpartition(".")[2]
        if name.lower() not in tables.LR_RANGES:
            continue
        if qualname.startswith("keras."):
            lr = argument(site.node, "learning_rate", tables.KERAS_LR_POSITION)
            yield OptimizerCall(site, name, "keras", lr or keyword(site.node, "lr"))
        else:
            lr = argument(site.node, "lr", tables.TORCH_LR_POSITION)
            yield OptimizerCall(site, name, "torch", lr)


def sets_lr_by_schedule(module: ModuleFacts) -> bool:
    """A OneCycleLR/CyclicLR scheduler sets the learning rate itself."""
    return any(s.qualname in tables.LR_OVERRIDING_SCHEDULERS for s in module.collected.calls)


def warms_up(module: ModuleFacts) -> bool:
    """A warm-up is visible: a warm-up scheduler, a `warmup` argument or name, HF warm-up."""
    for site in module.collected.calls:
        qualname = site.qualname or ""
        if qualname in tables.WARMUP_SCHEDULERS or "warmup" in qualname.lower():
            return True
        for kw in site.node.keywords:
            if kw.arg in tables.WARMUP_ARGUMENTS:
                value = module.resolver.constant(kw.value, site.scope)
                if value is None or value:
                    return True
    for scope in module.collected.scopes:
        for name in (*scope.bindings, scope.name):
            tokens = name_tokens(name)
            if "warmup" in tokens or ("warm" in tokens and "up" in tokens):
                return True
    return False


@dataclass(frozen=True)
class BatchSize:
    """A training batch size set at a call: a DataLoader, Keras `fit`, HF arguments."""

    site: CallSite
    value: int


def training_batch_sizes(module: ModuleFacts) -> Iterator[BatchSize]:
    keras_fits = {id(f.site.node) for f in module.keras_fits}
    for site in module.collected.training_calls:
        call = site.node
        if has_star_args(call):
            continue
        expr: ast.expr | None = None
        if site.qualname in DATALOADERS and _training_loader(module, site):
            expr = argument(call, "batch_size", 1)
        elif id(call) in keras_fits:
            expr = keyword(call, "batch_size")
        elif site.qualname in HF_ARGS:
            expr = keyword(call, "per_device_train_batch_size")
        value = module.resolver.constant(expr, site.scope) if expr is not None else None
        if isinstance(value, int) and not isinstance(value, bool):
            yield BatchSize(site, value)


def _training_loader(module: ModuleFacts, site: CallSite) -> bool:
    if id(site.node) in module.training_loaders:
        return True
    if any(name_role(t) == "train" for t in site.targets):
        return True
    dataset = argument(site.node, "dataset", 0)
    return dataset is not None and module.data.role(dataset, site.scope) == "train"


def _from_tensorflow(name: str, text: str) -> bool:
    """Whether the module binds `name` from TensorFlow (`import tensorflow as tf`, `from
    tensorflow import keras`, `from tensorflow.keras.optimizers import Adadelta`) rather
    than from standalone Keras. Imports are read from the text: names are canonical."""
    escaped = re.escape(name)
    pattern = (
        rf"^\s*(?:from\s+tensorflow[\w.]*\s+import\s+[^#\n]*\b{escaped}\b"
        rf"|import\s+tensorflow[\w.]*\s+as\s+{escaped}\b|import\s+{escaped}\s*$)"
    )
    found = re.search(pattern, text, re.MULTILINE)
    return found is not None and (name == "tensorflow" or "tensorflow" in found.group(0))
