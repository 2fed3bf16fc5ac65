"""NN3: the training loop — early stopping and validation."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.checks import config

from nnlint import tables
from nnlint.facts import ModuleFacts
from nnlint.facts.data import name_role
from nnlint.facts.names import dotted
from nnlint.facts.training import LightningFit, callbacks_of
from nnlint.facts.values import keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_EARLY_HELP = (
    "add early stopping on a validation metric (EarlyStopping callback or a patience loop) "
    "and keep the best weights"
)


@rule(
    "NN301",
    "no-early-stopping",
    severity="warning",
    summary="Many epochs with validation data but no early stopping or best-model selection.",
)
def no_early_stopping(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds training runs of many epochs (100 or more by default, `early-stopping-epochs` in
    `[tool.nnlint]`; Lightning 1.x's default is 1000) that have
    validation data but never act on it: Keras `fit` without an `EarlyStopping` (or
    best-only `ModelCheckpoint`) callback, a Lightning `Trainer` without `EarlyStopping` or a
    monitored `ModelCheckpoint`, a Hugging Face `Trainer` without `EarlyStoppingCallback` or
    `load_best_model_at_end`, and a PyTorch epoch loop that evaluates on validation data with
    no best-so-far or patience logic.

    ## Why is this bad?
    After the validation loss bottoms out, further epochs only fit noise: the final weights
    are worse than the best ones seen, and the compute is wasted. Early stopping on a
    validation metric (restoring the best weights) is the cheapest regulariser there is.

    ## Example
    ```python
    model.fit(x, y, validation_split=0.1, epochs=200)
    ```

    ## Use instead
    ```python
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10, restore_best_weights=True)
    model.fit(x, y, validation_split=0.1, epochs=200, callbacks=[stop])
    ```

    ## Known limits
    Epoch counts must be literals, constants or argparse defaults; callbacks must be
    visible lists. Anything else is left alone.

    ## Fix safety
    No automatic fix.

    ## References
    - Prechelt, "Early Stopping — But When?" (1998)
    - https://keras.io/api/callbacks/early_stopping/
    """
    many = project.settings.early_stopping_epochs
    for module, fit in project.keras_fits():
        if (
            fit.trains
            and fit.has_validation
            and (fit.epochs or 0) >= many
            and fit.callbacks.known
            and not (fit.callbacks.early_stopping or fit.callbacks.keeps_best)
        ):
            yield Hit(
                module.path,
                fit.site.node,
                f"{fit.epochs} epochs with validation data but no early stopping",
                _EARLY_HELP,
            )
    for module in project.modules:
        for fit in module.lightning_fits:
            yield from _lightning_no_early_stopping(project, module, fit)
        yield from _hf_no_early_stopping(module, many)
        for loop in module.epoch_loops:
            if (
                not loop.adversarial
                and (loop.epochs or 0) >= many
                and "val" in loop.roles_used
                and not loop.selects_model
            ):
                yield Hit(
                    module.path,
                    loop.node,
                    f"{loop.epochs} epochs evaluated on validation data but "
                    "nothing stops training or keeps the best model",
                    _EARLY_HELP,
                )
    yield from config.unstopped_in_configs(project)


def _lightning_validates(
    project: Project, module: ModuleFacts, fit: LightningFit
) -> tuple[bool | None, frozenset[str]]:
    """Whether a Lightning fit validates, and the methods of its LightningModule."""
    methods: frozenset[str] | None = None
    if fit.model is not None:
        key = module.model_key(fit.model, fit.site.scope)
        found = project.network(key, module) if key else None
        methods = found[0].methods if found else None
    if fit.val is not None:
        return True, methods or frozenset()
    if fit.datamodule is not None:
        for origin in module.resolver.origins(fit.datamodule, fit.site.scope):
            cls = (
                module.training.class_of(origin.expr) if isinstance(origin.expr, ast.Call) else None
            )
            if cls is None:
                return None, methods or frozenset()
            return "val_dataloader" in cls.methods, methods or frozenset()
        return None, methods or frozenset()
    if methods is None:
        return None, frozenset()
    return "val_dataloader" in methods and "validation_step" in methods, methods


def _lightning_no_early_stopping(
    project: Project, module: ModuleFacts, fit: LightningFit
) -> Iterator[Hit]:
    validates, methods = _lightning_validates(project, module, fit)
    trainer = fit.trainer
    if not validates or trainer is None or "configure_callbacks" in methods:
        return
    scope = fit.site.scope
    resolver = module.resolver
    max_epochs = resolver.constant(keyword(trainer, "max_epochs"), scope)
    if keyword(trainer, "max_epochs") is None:
        if keyword(trainer, "max_steps") is not None or keyword(trainer, "max_time") is not None:
            return
        max_epochs = tables.LIGHTNING_DEFAULT_MAX_EPOCHS
        if (dotted(trainer.func) or "").endswith(
            "from_argparse_args"
        ):  # the command line's default
            if {"max_steps", "max_time"} & set(resolver.argparse_defaults):
                return
            default = resolver.argparse_defaults.get("max_epochs")
            max_epochs = resolver.constant(default, scope) if default is not None else max_epochs
    if not isinstance(max_epochs, int) or max_epochs < project.settings.early_stopping_epochs:
        return
    callbacks = callbacks_of(keyword(trainer, "callbacks"), scope, module.resolver)
    if callbacks.known and not (callbacks.early_stopping or callbacks.keeps_best):
        yield Hit(
            module.path,
            trainer,
            f"Trainer runs up to {max_epochs} epochs with validation but no EarlyStopping callback",
            _EARLY_HELP,
        )


def _hf_no_early_stopping(module: ModuleFacts, many: int) -> Iterator[Hit]:
    for site in module.training.hf_trainers():
        found = module.training.hf_arguments(site.node, site.scope)
        if found is None or keyword(site.node, "eval_dataset") is None:
            continue
        args, scope = found
        constant = module.resolver.constant
        epochs = (
            constant(keyword(args, "num_train_epochs"), scope)
            if keyword(args, "num_train_epochs")
            else tables.HF_DEFAULT_EPOCHS
        )
        strategy = keyword(args, "eval_strategy") or keyword(args, "evaluation_strategy")
        strategy_value = constant(strategy, scope) if strategy is not None else "no"
        if (
            keyword(args, "max_steps") is not None
            or not isinstance(epochs, int | float)
            or epochs < many
            or strategy_value in {"no", None}
            or (
                constant(keyword(args, "load_best_model_at_end"), scope) is not False
                and keyword(args, "load_best_model_at_end") is not None
            )
        ):
            continue
        callbacks = callbacks_of(keyword(site.node, "callbacks"), site.scope, module.resolver)
        if callbacks.known and not callbacks.early_stopping:
            yield Hit(
                module.path,
                site.node,
                f"{int(epochs)} training epochs with evaluation but no early stopping",
                "add EarlyStoppingCallback and load_best_model_at_end=True",
            )


@rule(
    "NN302",
    "no-validation-data",
    severity="warning",
    summary="Training with no validation data at all.",
)
def no_validation_data(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds training that never measures anything but the training data: Keras `fit` with no
    `validation_data`/`validation_split`, a Lightning `trainer.fit` with no validation
    dataloader, datamodule or `validation_step`, and a PyTorch script that builds its
    training DataLoader and trains without any validation or test data in sight.

    ## Why is this bad?
    Training loss always goes down. Without a held-out validation set you cannot see
    over-fitting, choose when to stop, or compare hyper-parameters.

    ## Example
    ```python
    model.fit(x_train, y_train, epochs=10)
    ```

    ## Use instead
    ```python
    model.fit(x_train, y_train, epochs=10, validation_split=0.1)
    ```

    ## Known limits
    Training code that receives its data from elsewhere (function parameters, other modules)
    is not reported.

    ## Fix safety
    No automatic fix.

    ## References
    - https://developers.google.com/machine-learning/crash-course/overfitting/dividing-datasets
    """
    for module, fit in project.keras_fits():
        if fit.trains and fit.has_validation is False:
            yield Hit(
                module.path,
                fit.site.node,
                f"{fit.site.node.func.attr}() has no validation data",
                "pass validation_data=(x_val, y_val) or validation_split=0.1",
            )
    for module in project.modules:
        for fit in module.lightning_fits:
            if _lightning_validates(project, module, fit)[0] is False:
                yield Hit(
                    module.path,
                    fit.site.node,
                    "trainer.fit() runs without validation",
                    "pass val_dataloaders= and define validation_step",
                )
        yield from _torch_without_validation(module)


def _torch_without_validation(module: ModuleFacts) -> Iterator[Hit]:
    loops = [
        loop
        for loop in module.epoch_loops
        if loop.scope.class_name is None and not loop.adversarial
    ]
    if not loops or not module.training_loaders:
        return
    for scope in module.collected.scopes:
        if any(name_role(name) in {"val", "test"} for name in scope.bindings):
            return
        for site in scope.calls:
            func = site.node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"eval", "evaluate", "validate", "validation", "test"}:
                return
    if any(loop.roles_used & {"val", "test"} for loop in loops):
        return
    yield Hit(
        module.path,
        loops[0].node,
        "training loop never evaluates on validation data",
        "hold out a validation split and evaluate it every epoch",
    )
