"""NN6: reproducibility and checkpointing."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint import tables
from nnlint.facts import ModuleFacts
from nnlint.facts.names import name_tokens
from nnlint.facts.scope import Scope
from nnlint.facts.training import EpochLoop, callback_calls
from nnlint.facts.values import keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule


@rule(
    "NN601",
    "random-seed-not-set",
    severity="info",
    summary="A training script that never fixes its random seeds.",
    default=False,
)
def random_seed_not_set(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds modules that train a model (a PyTorch backward loop, Keras `fit`, Lightning
    `trainer.fit`) and never set a seed: no `torch.manual_seed`, `np.random.seed`,
    `random.seed`, `tf.random.set_seed`, `keras.utils.set_random_seed`,
    `seed_everything`, `transformers.set_seed`, nor a function of their own named for
    seeding. Off by default: select `NN601` to run it.

    ## Why is this bad?
    Weight initialisation, shuffling, dropout and augmentation are random. Without fixed
    seeds two runs of the same code give different results, so a change cannot be told
    from noise and a bug cannot be reproduced.

    ## Example
    ```python
    model = Net()
    trainer.fit(model, datamodule=dm)
    ```

    ## Use instead
    ```python
    lightning.seed_everything(42, workers=True)
    model = Net()
    trainer.fit(model, datamodule=dm)
    ```

    ## Known limits
    Seeds set in another module (a `utils.set_seed` called from elsewhere) are invisible
    unless the call is in this file. Hugging Face `Trainer` seeds itself (`seed=42`) and is
    not reported. Fixed seeds do not make GPU kernels deterministic on their own.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/notes/randomness.html
    - https://keras.io/examples/keras_recipes/reproducibility_recipes/
    """
    fits: dict[int, list[ast.AST]] = {}
    for module, fit in project.keras_fits():
        if fit.trains:
            fits.setdefault(id(module), []).append(fit.site.node)
    for module in project.modules:
        start = _first_training(module, fits.get(id(module), []))
        if start is None or _seeds(module):
            continue
        yield Hit(
            module.path,
            start,
            "training without a fixed random seed; results cannot be reproduced",
            "seed every generator at start-up (torch.manual_seed, np.random.seed, "
            "random.seed, or seed_everything/keras.utils.set_random_seed)",
        )


def _first_training(module: ModuleFacts, keras_fits: list[ast.AST]) -> ast.AST | None:
    starts: list[ast.AST] = [loop.node for loop in module.epoch_loops]
    starts += keras_fits
    starts += [f.site.node for f in module.lightning_fits]
    if not starts:
        return None
    return min(starts, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))


def _seeds(module: ModuleFacts) -> bool:
    for site in module.collected.calls:
        if site.qualname in tables.SEED_CALLS:
            return True
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if "seed" in name_tokens(name) or "seed" in name.lower():
            return True
    return False


@rule(
    "NN602",
    "no-best-checkpoint",
    severity="warning",
    summary="Early stopping that keeps the last weights instead of the best ones.",
)
def no_best_checkpoint(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds training that stops early on a validation metric but never keeps the best
    model: Keras `EarlyStopping` without `restore_best_weights=True` and no
    `ModelCheckpoint(save_best_only=True)`; a Lightning `EarlyStopping` with no
    `ModelCheckpoint(monitor=...)`; a PyTorch patience loop that breaks out without ever
    saving or copying the weights.

    ## Why is this bad?
    Early stopping ends training `patience` epochs after the best validation score: the
    weights left in memory are those of the last epoch, already past the best and
    over-fitting. Without a checkpoint of the best epoch the best model is lost.

    ## Example
    ```python
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10)
    model.fit(x, y, validation_split=0.1, epochs=200, callbacks=[stop])
    ```

    ## Use instead
    ```python
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    model.fit(x, y, validation_split=0.1, epochs=200, callbacks=[stop])
    ```

    ## Known limits
    Training with validation but neither early stopping nor a checkpoint is NN301's
    (`no-early-stopping`). Callbacks must be visible lists; a PyTorch loop must stop on a
    condition named for patience or early stopping.

    ## Fix safety
    No automatic fix.

    ## References
    - https://keras.io/api/callbacks/early_stopping/
    - https://lightning.ai/docs/pytorch/stable/api/lightning.pytorch.callbacks.ModelCheckpoint.html
    """
    for module, fit in project.keras_fits():
        if fit.trains and fit.has_validation:
            yield from _callbacks_hit(module, keyword(fit.site.node, "callbacks"), fit.site.scope)
    for module in project.modules:
        for fit in module.lightning_fits:
            if fit.trainer is not None:
                yield from _callbacks_hit(module, keyword(fit.trainer, "callbacks"), fit.site.scope)
        for loop in module.epoch_loops:
            if not loop.adversarial and "val" in loop.roles_used and _stops_without_saving(loop):
                yield Hit(
                    module.path,
                    loop.node,
                    "the loop stops early on validation but never saves the best weights; "
                    "the last epoch's weights are kept",
                    "save or copy the model's state_dict whenever the validation score "
                    "improves, and load it after the loop",
                )


_EARLY_STOPPING = frozenset(
    {
        "keras.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.early_stopping.EarlyStopping",
    }
)


def _callbacks_hit(module: ModuleFacts, expr: ast.expr | None, scope: Scope) -> Iterator[Hit]:
    calls = callback_calls(expr, scope, module.resolver) if expr is not None else None
    if not calls:
        return
    stoppers = [c for c in calls if c[0] in _EARLY_STOPPING]
    if not stoppers or any(_keeps_best(module, *c) for c in calls):
        return
    qualname, call, _ = stoppers[0]
    keras = qualname.startswith("keras.")
    yield Hit(
        module.path,
        call,
        "early stopping without keeping the best weights; training ends with the last "
        "epoch's weights, past the best",
        "pass restore_best_weights=True (or add ModelCheckpoint(save_best_only=True))"
        if keras
        else "add ModelCheckpoint(monitor=<the same metric>) and test with ckpt_path='best'",
    )


def _keeps_best(module: ModuleFacts, qualname: str, call: ast.Call, scope: Scope) -> bool:
    if qualname not in tables.BEST_KEEPING:
        return False
    word = tables.BEST_KEEPING[qualname]
    value = keyword(call, word)
    if value is None:
        return False
    if word == "monitor":
        return True
    return module.resolver.constant(value, scope) is not False


_PATIENCE_WORDS = frozenset(
    {"patience", "early", "stop", "stopping", "bad", "wait", "counter", "improve", "improvement"}
)
_SAVING_NAMES = frozenset(
    {"save", "state_dict", "deepcopy", "save_pretrained", "save_weights", "save_checkpoint"}
)


def _stops_without_saving(loop: EpochLoop) -> bool:
    stops = False
    for node in ast.walk(loop.node):
        if isinstance(node, ast.If) and any(isinstance(s, ast.Break) for s in node.body):
            names = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            names |= {n.attr for n in ast.walk(node.test) if isinstance(n, ast.Attribute)}
            if any(set(name_tokens(n)) & _PATIENCE_WORDS for n in names):
                stops = True
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            tokens = set(name_tokens(name))
            if name in _SAVING_NAMES or tokens & {"save", "checkpoint", "best"}:
                return False
    return stops
