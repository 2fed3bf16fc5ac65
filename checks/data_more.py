"""NN2 (continued): dataset splits."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint.facts.names import dotted, name_tokens
from nnlint.facts.targets import CLASS_LABELS, target_kind
from nnlint.facts.values import has_star_args, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_TRAIN_TEST_SPLIT = "sklearn.model_selection.train_test_split"
_LABEL_WORDS = frozenset({"label", "labels", "class", "classes", "cls"})


@rule(
    "NN204",
    "split-without-stratify",
    severity="warning",
    summary="A classification dataset split with `train_test_split` without `stratify=`.",
)
def split_without_stratify(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `train_test_split(X, y, ...)` without `stratify=` where `y` is visibly class
    labels: it comes from a classification dataset (`load_iris`, `make_classification`,
    ...), is cast to an integer type, or is named `labels`/`classes`.

    ## Why is this bad?
    A random split does not keep the class proportions: with rare classes the validation
    or test split can get too few (or no) examples of them, so the scores are noisy and
    differ from run to run, and the training split is skewed. `stratify=y` keeps every
    class in the same proportion in each split.

    ## Example
    ```python
    X_train, X_val, y_train, y_val = train_test_split(X, labels, test_size=0.2)
    ```

    ## Use instead
    ```python
    X_train, X_val, y_train, y_val = train_test_split(X, labels, test_size=0.2, stratify=labels)
    ```

    ## Known limits
    Targets whose kind cannot be seen (a generic `y` read from a file) are not reported, so
    regression splits stay silent. Unshuffled splits (`shuffle=False`, time series) cannot
    be stratified and are skipped.

    ## Fix safety
    No automatic fix.

    ## References
    - https://scikit-learn.org/stable/modules/generated/sklearn.model_selection.train_test_split.html
    - https://scikit-learn.org/stable/modules/cross_validation.html#stratification
    """
    for module in project.modules:
        for split in module.splits:
            call = split.site.node
            if split.site.qualname != _TRAIN_TEST_SPLIT or has_star_args(call):
                continue
            if keyword(call, "stratify") is not None or len(call.args) < 2:
                continue
            if module.resolver.constant(keyword(call, "shuffle"), split.site.scope) is False:
                continue
            labels = call.args[1]
            if _class_labels(labels, module, split.site.scope):
                yield Hit(
                    module.path,
                    call,
                    "classification data split without stratify=; class proportions can "
                    "differ between the splits",
                    f"pass stratify={ast.unparse(labels)} to train_test_split",
                )


def _class_labels(labels: ast.expr, module, scope) -> bool:
    if target_kind(labels, scope, module.resolver) == CLASS_LABELS:
        return True
    name = (dotted(labels) or "").rpartition(".")[2]
    return bool(set(name_tokens(name)) & _LABEL_WORDS)
