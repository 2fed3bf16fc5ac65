"""NN5: evaluation and metrics."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint import tables
from nnlint.facts import ModuleFacts
from nnlint.facts.data import name_role
from nnlint.facts.names import name_tokens
from nnlint.facts.values import keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_METRIC_PREFIXES = ("torchmetrics.", "sklearn.metrics.", "keras.metrics.")
# Calls that evaluate whatever test data they are given.
_EVALUATING_WORDS = frozenset(
    {"predict", "evaluate", "eval", "test", "score", "accuracy", "validate", "infer", "inference"}
)


@rule(
    "NN501",
    "accuracy-only-metric",
    severity="warning",
    summary="Accuracy is the only metric although the code weights or resamples classes.",
)
def accuracy_only_metric(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds modules that show the classes are imbalanced (`class_weight=`, `pos_weight=`,
    a class-weighted `CrossEntropyLoss(weight=...)`, `WeightedRandomSampler`,
    `compute_class_weight`, imbalanced-learn resamplers) but measure nothing except
    accuracy: Keras `metrics=["accuracy"]`, torchmetrics `Accuracy`, `accuracy_score`.

    ## Why is this bad?
    On imbalanced classes accuracy rewards predicting the majority class: with 95%
    negatives, a model that never predicts a positive scores 95%. The code already knows
    the classes are imbalanced (it weights them), so accuracy alone will hide exactly the
    failures the weighting is meant to prevent.

    ## Example
    ```python
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, class_weight={0: 1.0, 1: 20.0}, validation_split=0.2)
    ```

    ## Use instead
    ```python
    metrics = ["accuracy", keras.metrics.Precision(), keras.metrics.Recall(), keras.metrics.AUC()]
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=metrics)
    ```

    ## Known limits
    Metrics computed by hand (`correct / total`) are not recognised as accuracy, and any
    other metric anywhere in the module (F1, precision, recall, AUC, a confusion matrix)
    counts as measuring more than accuracy.

    ## Fix safety
    No automatic fix.

    ## References
    - He & Garcia, "Learning from Imbalanced Data" (2009)
    - https://scikit-learn.org/stable/modules/model_evaluation.html#balanced-accuracy-score
    """
    for module in project.modules:
        evidence = _imbalance_evidence(module)
        if evidence is None or _other_metrics(module):
            continue
        for node in _accuracy_only_sites(module):
            yield Hit(
                module.path,
                node,
                f"accuracy is the only metric, but the classes are imbalanced ({evidence}); "
                "accuracy rewards predicting the majority class",
                "also report precision, recall, F1 or AUC (or balanced accuracy)",
            )


def _imbalance_evidence(module: ModuleFacts) -> str | None:
    for site in module.collected.training_calls:
        qualname = site.qualname or ""
        if qualname in tables.IMBALANCE_CALLS:
            return qualname.rpartition(".")[2]
        for kw in site.node.keywords:
            if kw.arg in tables.IMBALANCE_KEYWORDS and not (
                isinstance(kw.value, ast.Constant) and kw.value.value is None
            ):
                return f"{kw.arg}="
        if qualname in tables.CLASS_WEIGHTED_LOSSES and keyword(site.node, "weight"):
            return "a class-weighted loss"
    return None


def _other_metrics(module: ModuleFacts) -> bool:
    for site in module.collected.calls:
        qualname = site.qualname or ""
        if qualname.startswith(_METRIC_PREFIXES) and qualname not in tables.ACCURACY_METRICS:
            return True
        func = site.node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if set(name_tokens(name)) & tables.OTHER_METRIC_WORDS:
            return True
    for scope in module.collected.scopes:
        for name in scope.bindings:
            if set(name_tokens(name)) & tables.OTHER_METRIC_WORDS:
                return True
    return False


def _accuracy_only_sites(module: ModuleFacts) -> Iterator[ast.AST]:
    for site in module.collected.training_calls:
        qualname = site.qualname or ""
        if qualname in tables.ACCURACY_METRICS and not qualname.startswith("keras."):
            yield site.node
            continue
        func = site.node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "compile"):
            continue
        metrics = keyword(site.node, "metrics")
        if metrics is None:
            continue
        origins = module.resolver.origins(metrics, site.scope)
        if len(origins) != 1 or not isinstance(origins[0].expr, ast.List | ast.Tuple):
            continue
        elements = origins[0].expr.elts
        if elements and all(_is_accuracy(module, e, origins[0].scope) for e in elements):
            yield site.node


def _is_accuracy(module: ModuleFacts, expr: ast.expr, scope) -> bool:
    value = module.resolver.constant(expr, scope)
    if isinstance(value, str):
        return value in tables.ACCURACY_STRINGS
    target = expr.func if isinstance(expr, ast.Call) else expr
    return module.resolver.qualname(target, scope) in tables.ACCURACY_METRICS


@rule(
    "NN502",
    "test-set-never-evaluated",
    severity="warning",
    summary="A test split is built but the trained model is never evaluated on it.",
    default=False,
)
def test_set_never_evaluated(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    In a module that trains a model, finds test data (names like `x_test`, `test_loader`,
    `test_ds`, the test half of `keras.datasets.*.load_data()`) that is built but never
    used afterwards: not passed to `evaluate`/`predict`, not iterated, not given to any
    function. Off by default: select `NN502` to run it.

    ## Why is this bad?
    The held-out test set is the only unbiased estimate of how the final model does on new
    data. A script that prepares one and never evaluates on it reports only training or
    validation scores, which are optimistic: the validation set was used to choose the
    model.

    ## Example
    ```python
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    model.fit(x_train / 255.0, y_train, validation_split=0.1, epochs=5)
    ```

    ## Use instead
    ```python
    model.fit(x_train / 255.0, y_train, validation_split=0.1, epochs=5)
    model.evaluate(x_test / 255.0, y_test)
    ```

    ## Known limits
    A test set evaluated in another script is reported here; suppress with
    `# noqa: NN502` or leave the rule off. Only names that say "test" are followed.

    ## Fix safety
    No automatic fix.

    ## References
    - Hastie, Tibshirani & Friedman, "The Elements of Statistical Learning", section 7.2
    """
    keras_trained = {id(m) for m, fit in project.keras_fits() if fit.trains}
    for module in project.modules:
        if id(module) not in keras_trained and not _trains(module):
            continue
        first = _unused_test_data(module)
        if first is not None:
            yield Hit(
                module.path,
                first,
                f"test data `{first.id}` is prepared but the trained model is never "
                "evaluated on it",
                "evaluate the final model once on the test set after training",
            )


def _trains(module: ModuleFacts) -> bool:
    """PyTorch, Lightning or Hugging Face training (Keras fits are confirmed by the project)."""
    return bool(module.epoch_loops or module.lightning_fits or module.training.hf_trainers())


def _unused_test_data(module: ModuleFacts) -> ast.Name | None:
    """The first test-data name stored, when no test-data name is ever consumed."""
    tree = module.source.tree
    assert tree is not None
    parents: dict[int, ast.AST] = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    stored: list[ast.Name] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name) or name_role(node.id) != "test":
            continue
        if isinstance(node.ctx, ast.Store):
            stored.append(node)
        elif _consumed(node, parents):
            return None
    if not stored:
        return None
    return min(stored, key=lambda n: (n.lineno, n.col_offset))


def _consumed(name: ast.Name, parents: dict[int, ast.AST]) -> bool:
    """A load of test data that does more than derive more test data or print its size."""
    current: ast.AST = name
    evaluated = False
    while id(current) in parents:
        parent = parents[id(current)]
        if isinstance(parent, ast.Call):
            func = parent.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in {"len", "print"}:
                return evaluated
            evaluated = evaluated or bool(set(name_tokens(called)) & _EVALUATING_WORDS)
        if isinstance(parent, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            names = [n for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
            derived = bool(names) and all(name_role(n.id) == "test" for n in names)
            return evaluated or not derived
        if isinstance(parent, ast.stmt):
            return True
        current = parent
    return True
