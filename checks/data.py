"""NN2: data, splits and leakage."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from itertools import chain

from nnlint.checks import config

from nnlint import tables
from nnlint.facts import ModuleFacts
from nnlint.facts.data import name_role
from nnlint.facts.dataflow import derived_names, sliced_from
from nnlint.facts.loops import loop_blocks, walk_body
from nnlint.facts.names import dotted, root_name
from nnlint.facts.scope import CallSite
from nnlint.facts.training import KerasFit
from nnlint.facts.values import argument, keyword
from nnlint.project import Project
from nnlint.rules import Hit, rule

_TENSOR_DATASETS = frozenset(
    {"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"}
)


@rule(
    "NN201",
    "unnormalised-input",
    severity="warning",
    summary="Raw, unscaled data reaches the network without normalisation.",
)
def unnormalised_input(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Follows arrays from sources known to be unscaled (`keras.datasets.*.load_data()`,
    scikit-learn `load_*`/`fetch_*`, `pandas.read_csv`, `numpy.loadtxt`) to where they enter
    the network (`model.fit(x, ...)`, `TensorDataset(x, ...)`, `model(x_batch)` in a PyTorch
    training loop), through conversions, splits, slices and local helpers that return them,
    and reports when nothing on the way scales them: no division (`/ 255`, `/ std`), no
    scaler, no in-place rescaling of the frame (`df[cols] = (df[cols] - m) / s`, or a helper
    that writes into it), and no `Rescaling`, `Normalization`, BatchNorm or Embedding first
    layer.

    ## Why is this bad?
    Features on different scales (pixels in 0..255, prices in the thousands next to ratios
    in 0..1) make the loss surface badly conditioned: gradient descent zig-zags, needs a tiny
    learning rate, and saturates activations. Standardised inputs (zero mean, unit variance)
    or inputs scaled to [0, 1] train faster and more reliably.

    ## Example
    ```python
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    model.fit(x_train, y_train, validation_split=0.1)
    ```

    ## Use instead
    ```python
    (x_train, y_train), _ = keras.datasets.mnist.load_data()
    model.fit(x_train / 255.0, y_train, validation_split=0.1)
    ```

    ## Known limits
    Data passed through a function nnlint cannot see into (`preprocess(x)`) is assumed to be
    handled; so is data whose network starts with a layer that is not a plain weight layer,
    and a frame written in place with anything but `fillna`/`astype`-like values. Whether a
    CSV's columns are already scaled cannot be seen in code: a few well-known data files
    that are (UCI Sonar, Ionosphere) are not reported, other CSVs are taken as raw.

    ## Fix safety
    No automatic fix.

    ## References
    - LeCun et al., "Efficient BackProp" (1998), section 4.3
    - https://scikit-learn.org/stable/modules/preprocessing.html
    """
    for module, fit in project.keras_fits():
        if fit.x is None or _method(fit.site) != "fit":
            continue
        key = module.model_key(fit.model, fit.site.scope)
        found = project.network(key, module) if key else None
        if found is not None and not found[0].normalises_input():
            yield from _raw_hit(module, fit.site, fit.x)
    for module in project.modules:
        if any(n.framework == "torch" and n.normalises_input() for n in module.networks.values()):
            continue
        steps = {id(loop.node) for loop in module.loops.step_loops}
        for site in module.collected.training_calls:
            if not site.node.args:
                continue
            if site.qualname in _TENSOR_DATASETS or _torch_forward(project, module, site, steps):
                yield from _raw_hit(module, site, site.node.args[0])


def _torch_forward(project: Project, module: ModuleFacts, site: CallSite, steps: set[int]) -> bool:
    """`model(x)` in a training-step loop, where `model` is a PyTorch network whose input is
    not scaled by its first layer."""
    if not any(id(loop) in steps for loop in site.loops):
        return False
    func = site.node.func
    if not isinstance(func, ast.Name | ast.Attribute):
        return False
    key = module.model_key(func, site.scope)
    found = project.network(key, module) if key else None
    return found is not None and found[0].framework == "torch" and not found[0].normalises_input()


def _raw_hit(module: ModuleFacts, site: CallSite, data: ast.expr) -> Iterator[Hit]:
    source = module.data.raw_source(data, site.scope)
    if source is None:
        return
    shown = ast.unparse(data)
    shown = shown if len(shown) <= 30 else shown[:27] + "..."
    yield Hit(
        module.path,
        site.node,
        f"`{shown}` comes from `{source}` and reaches the network unscaled",
        "standardise it (StandardScaler fitted on the training split), divide pixels by 255, "
        "or start the model with a Normalization/Rescaling layer",
    )


def _method(site: CallSite) -> str:
    func = site.node.func
    return func.attr if isinstance(func, ast.Attribute) else ""


@rule(
    "NN202",
    "unshuffled-training-data",
    severity="warning",
    summary="Training data is not shuffled.",
)
def unshuffled_training_data(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds training data that is fed in a fixed order: a training `DataLoader` (named so,
    iterated by the loop that calls `backward()`, returned by a `train_dataloader` hook, or
    built by a helper that a caller uses for training data) without `shuffle=True` or a
    sampler (also when options come as `**kwargs` dict literals); mini-batches sliced from a
    training array (`X_train[i:i + bs]`) in an epoch loop that never permutes it; Keras
    `fit(..., shuffle=False)`; `fit(..., validation_split=...)` on rows assembled block by
    block (appended in two loops, `np.concatenate([cats, dogs])`) and never shuffled, so the
    validation tail is one block; and a `tf.data` pipeline given to `fit` with no
    `.shuffle()`. A dataset that orders itself at random (an `IterableDataset`, a `Dataset`
    whose `__getitem__` draws random numbers, a Hugging Face dataset after `.shuffle()`)
    counts as shuffled.

    ## Why is this bad?
    Data files are often sorted (by class, by date, by source). Mini-batches drawn in that
    order are not representative: gradients are biased batch after batch, the loss
    oscillates, and the model may forget earlier classes. Shuffling every epoch makes each
    batch an unbiased sample.

    ## Example
    ```python
    train_loader = DataLoader(train_set, batch_size=64)
    ```

    ## Use instead
    ```python
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    ```

    ## Known limits
    Loaders whose `shuffle` comes from a variable or a helper's parameter, loaders over an
    `IterableDataset` and data built in code nnlint cannot follow are not reported. Slicing
    is not reported for sequence models (contiguous language-model batches keep their order
    on purpose) nor when the epoch loop rebinds or shuffles the sliced array. Validation and
    test loaders do
    not need shuffling and are never reported.

    ## Fix safety
    Safe: `shuffle=True` is added (or replaces a literal `shuffle=False`), and Keras'
    `shuffle=False` is dropped. A `shuffle` set by a variable or by position, a sampler or
    `**kwargs` is left to you: the value may be chosen on purpose.

    ## References
    - https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader
    - https://www.tensorflow.org/guide/data_performance
    """
    from_configs = []
    for module in project.modules:
        trained_on = module.training_loaders
        for site in module.collected.training_calls:
            if not module.data.is_loader(site):
                continue
            if _loader_role(module, site, trained_on) != "train":
                continue
            shuffles = module.data.loader_shuffles(site.node, site.scope)
            if shuffles is None:
                from_configs.append((module, site))
            elif shuffles is False and not (
                module.data.is_iterable_dataset(site.node, site.scope)
                or module.data.dataset_shuffles(site.node, site.scope)
            ):
                yield Hit(
                    module.path,
                    site.node,
                    "training DataLoader does not shuffle",
                    "pass shuffle=True (or a sampler) to the training DataLoader",
                )
        yield from _sliced_batches(project, module)
    for module, fit in project.keras_fits():
        if _method(fit.site) != "fit":
            continue
        if fit.shuffle is False:
            yield Hit(
                module.path,
                fit.site.node,
                "fit(..., shuffle=False) trains on the data in a fixed order",
                "drop shuffle=False (Keras shuffles arrays by default)",
            )
        elif _ordered_validation_tail(module, fit):
            yield Hit(
                module.path,
                fit.site.node,
                "validation_split takes the last rows of data that were put together in "
                "blocks and never shuffled",
                "shuffle the arrays before fit (sklearn.utils.shuffle(x, y)), or pass "
                "validation_data split off with train_test_split",
            )
        elif fit.x is not None and module.data.tfdata_shuffled(fit.x, fit.site.scope) is False:
            yield Hit(
                module.path,
                fit.site.node,
                "the tf.data training pipeline is never shuffled",
                "add .shuffle(buffer_size) before .batch() in the training pipeline",
            )
    reported: set[tuple[str, tuple[int, int]]] = set()
    for hit in config.unshuffled_via_code(project, from_configs):
        reported.add((hit.path, hit.position))
        yield hit
    for hit in config.unshuffled_in_configs(project):
        if (hit.path, hit.position) not in reported:
            yield hit


def _ordered_validation_tail(module: ModuleFacts, fit: KerasFit) -> bool:
    """`fit(x, y, validation_split=f)` on rows assembled block by block: Keras takes the
    validation rows from the end before it shuffles, so they all come from the last block."""
    split = module.resolver.constant(keyword(fit.site.node, "validation_split"), fit.site.scope)
    if not isinstance(split, float | int) or split <= 0:
        return False
    data = [fit.x, argument(fit.site.node, "y", 1)]
    return any(d is not None and module.data.in_blocks(d, fit.site.scope) for d in data)


def _sliced_batches(project: Project, module: ModuleFacts) -> Iterator[Hit]:
    """Mini-batches cut by slicing training arrays (`X_train[i:i + bs]`) in a training-step
    loop nested in an epoch loop that never reorders them. Sequence models are left out:
    contiguous language-model batches are meant to keep their order."""
    networks = list(module.networks.values())
    if not networks or any(project.is_sequence_model(n, module) for n in networks):
        return
    for step in module.loops.step_loops:
        chain = step.backwards[0].loops
        outer = chain[: chain.index(step.node)]
        if not outer:
            continue
        sliced = [
            node
            for node in walk_body(step.node)
            if isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Slice)
            and isinstance(node.value, ast.Name)
            and module.data.role(node.value, step.scope) == "train"
            and not _reordered(node.value.id, outer[0])
        ]
        if sliced:
            first = min(sliced, key=lambda n: (n.lineno, n.col_offset))
            yield Hit(
                module.path,
                first,
                f"mini-batches are sliced from `{ast.unparse(first.value)}` in the same order "
                "every epoch",
                "draw a permutation each epoch (`idx = torch.randperm(n)`) and slice it, "
                "or use a DataLoader with shuffle=True",
            )


def _reordered(name: str, epoch_loop: ast.AST) -> bool:
    """True when the epoch loop rebinds `name` or hands it to a shuffling call."""
    for node in walk_body(epoch_loop):  # type: ignore[arg-type]
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(n, ast.Name) and n.id == name for t in targets for n in ast.walk(t)):
                return True
        if isinstance(node, ast.Call) and any(
            isinstance(a, ast.Name) and a.id == name for a in node.args
        ):
            callee = (dotted(node.func) or "").lower()
            if "shuffle" in callee or "perm" in callee:
                return True
    return False


_HOOK_ROLES = {"train_dataloader": "train", "val_dataloader": "val", "test_dataloader": "test"}


def _loader_role(module: ModuleFacts, site: CallSite, trained_on: set[int]) -> str | None:
    for target in site.targets:
        role = name_role(target)
        if role:
            return role
    role = _helper_role(module, site)
    if role:
        return role
    dataset = argument(site.node, "dataset", 0)
    role = module.data.role(dataset, site.scope) if dataset is not None else None
    if role:
        return role
    if site.scope.name in _HOOK_ROLES:
        return _HOOK_ROLES[site.scope.name]
    return "train" if id(site.node) in trained_on else None


def _helper_role(module: ModuleFacts, site: CallSite) -> str | None:
    """For a DataLoader a helper builds and returns (`self.make_loader(ds, bs)`), called
    for the training data by one of its callers (named so, passing training data, or in a
    `train_dataloader` hook): 'train'. Its shuffling must not depend on the helper's
    parameters, which differ per caller."""
    helper = site.scope
    resolver = module.resolver
    if not any(
        o.expr is site.node for r in helper.returns for o in resolver.origins(r, helper)
    ) or _mentions(site.node, {"shuffle", "sampler", "batch_sampler"}, set(helper.params)):
        return None
    dataset = argument(site.node, "dataset", 0)
    name = dataset.id if isinstance(dataset, ast.Name) and dataset.id in helper.params else None
    position = helper.params.index(name) - (helper.class_name is not None) if name else -1
    for caller in module.loops.callers(helper):
        roles = {name_role(t) for t in caller.targets} | {_HOOK_ROLES.get(caller.scope.name)}
        passed = argument(caller.node, name, position) if name else None
        if passed is not None:
            roles.add(module.data.role(passed, caller.scope))
        if "train" in roles:
            return "train"
    return None


def _mentions(call: ast.Call, keywords: set[str], names: set[str]) -> bool:
    """True when the DataLoader's `keywords` (by keyword, by position or in `**kwargs`) use
    one of `names`."""
    values = call.args[2:5] + [k.value for k in call.keywords if k.arg in keywords | {None}]
    return any(isinstance(n, ast.Name) and n.id in names for v in values for n in ast.walk(v))


@rule(
    "NN203",
    "test-set-in-tuning",
    severity="error",
    summary="The test set is used to tune or select the model, or leaks into preprocessing.",
)
def test_set_in_tuning(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a test split (named `test`, or known by origin: `train=False`, `split="test"`,
    `mode="test"`, the second pair of `load_data()`, also after rescaling, conversions and
    `tf.data` steps) used as validation data (`fit(validation_data=...)`, Lightning
    `val_dataloaders`, HF `eval_dataset`), evaluated inside the epoch loop to pick a model
    (best-so-far, checkpoint, scheduler), used inside a hyper-parameter objective or a
    search loop over candidate values that keeps the best test score, or used to fit
    preprocessing; and preprocessing fitted on data that is split afterwards, by
    `train_test_split` or by slicing off a test part (`x_test = windows[n:]`), followed
    through assignments, loops and `.append`.

    ## Why is this bad?
    The test set exists to estimate performance on unseen data. Once it steers a decision
    (which epoch, which hyper-parameters, which scaling statistics), it is no longer unseen
    and the reported score is optimistically biased: the model looks better than it is.

    ## Example
    ```python
    model.fit(x_train, y_train, validation_data=(x_test, y_test), epochs=20)
    ```

    ## Use instead
    ```python
    x_tr, x_val, y_tr, y_val = train_test_split(x_train, y_train, test_size=0.1, stratify=y_train)
    model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=20)
    model.evaluate(x_test, y_test)  # once, at the very end
    ```

    ## Known limits
    Splits are recognised by name and by origin; a test set hidden behind a neutral name and
    built elsewhere is not seen. Evaluating the test set in the loop only for logging is not
    reported.

    ## Fix safety
    No automatic fix.

    ## References
    - https://scikit-learn.org/stable/common_pitfalls.html#data-leakage
    """
    for module in project.modules:
        # any `fit(validation_data=...)`, also on a model of a module not in this run
        for fit in module.keras_fits:
            if _is_test(module, fit.validation_data, fit.site):
                yield Hit(
                    module.path,
                    fit.site.node,
                    "test data passed as validation_data",
                    "hold out a validation split from the training data",
                )
        yield from _fitted_on_test(module)
        yield from _fitted_before_split(module)
        yield from _test_as_validation(module)
        for loop in module.epoch_loops:
            evaluations = [(site.node, set(site.targets)) for site in loop.test_evaluations]
            for node, names in [*evaluations, *loop.test_loops]:
                if names & loop.selection_names:
                    yield Hit(
                        module.path,
                        node,
                        "test data evaluated in the epoch loop drives model selection",
                        "select on a validation split; evaluate the test set once after training",
                    )
        yield from _test_in_objective(module)
        yield from _test_in_search_loop(module)
    yield from config.test_as_validation_in_configs(project)


def _is_test(module: ModuleFacts, expr: ast.expr | None, site: CallSite) -> bool:
    if expr is None:
        return False
    elements = expr.elts if isinstance(expr, ast.Tuple | ast.List) else [expr]
    return any(module.data.role(e, site.scope) == "test" for e in elements)


def _fitted_on_test(module: ModuleFacts) -> Iterator[Hit]:
    for site in module.collected.training_calls:
        func = site.node.func
        fits = isinstance(func, ast.Attribute) and func.attr in tables.FIT_METHODS
        if fits and site.node.args and _is_test(module, site.node.args[0], site):
            yield Hit(
                module.path,
                site.node,
                f"`{func.attr}` learns from test data",
                "fit on the training split only, then transform/evaluate the test split",
            )


def _fitted_before_split(module: ModuleFacts) -> Iterator[Hit]:
    """A preprocessor fitted on data that is split afterwards, by a split function or by
    slicing off a test part (`X_test = X[n:]`)."""
    for site in module.collected.training_calls:
        data = module.data.fitted_preprocessor(site)
        root = root_name(data) if data is not None else None
        if root is None or module.data.role(data, site.scope) is not None:
            continue
        after = (site.node.lineno, site.node.col_offset)
        learned = derived_names({root, *_written(module, site)}, site.scope, after)
        if any(
            split.site.scope is site.scope
            and split.site.node.lineno > site.node.lineno
            and split.inputs & learned
            for split in module.splits
        ) or _sliced_test_part(site, learned, after):
            yield Hit(
                module.path,
                site.node,
                "preprocessing is fitted on all data before the train/test split",
                "split first, fit the preprocessor on the training split, "
                "then transform the others",
            )


def _written(module: ModuleFacts, site: CallSite) -> set[str]:
    """The variables the statement around a call assigns to (`df.iloc[:, :8] = f(...)`)."""
    node: ast.AST | None = site.node
    while node is not None and not isinstance(node, ast.stmt):
        node = module.loops.parents.get(id(node))
    if not isinstance(node, ast.Assign):
        return set()
    return {n for t in node.targets for e in _elements(t) if (n := root_name(e))}


def _elements(target: ast.expr) -> list[ast.expr]:
    return list(target.elts) if isinstance(target, ast.Tuple | ast.List) else [target]


def _sliced_test_part(site: CallSite, learned: set[str], after: tuple[int, int]) -> bool:
    """A test-named variable bound after `after` to a slice of the learned data."""
    for name, bindings in site.scope.bindings.items():
        if name_role(name) != "test":
            continue
        for binding in bindings:
            value = binding.value
            if binding.pos <= after or value is None:
                continue
            if binding.kind == "unpack" and isinstance(value, ast.Tuple | ast.List):
                if binding.index is None or binding.index >= len(value.elts):
                    continue
                value = value.elts[binding.index]
            elif binding.kind != "assign":
                continue
            if sliced_from(value, learned):
                return True
    return False


def _test_as_validation(module: ModuleFacts) -> Iterator[Hit]:
    for fit in module.lightning_fits:
        if _is_test(module, fit.val, fit.site):
            yield Hit(
                module.path,
                fit.site.node,
                "test data passed as the validation dataloader",
                "validate on a split of the training data",
            )
    for site in module.training.hf_trainers():
        if _is_test(module, argument(site.node, "eval_dataset", 4), site):
            yield Hit(
                module.path,
                site.node,
                "test data passed as eval_dataset",
                "evaluate on a validation split; use the test split once after training",
            )


def _test_in_objective(module: ModuleFacts) -> Iterator[Hit]:
    for site in module.collected.training_calls:
        func = site.node.func
        if not (isinstance(func, ast.Attribute) and func.attr == "optimize" and site.node.args):
            continue
        studies = [
            o
            for o in module.resolver.origins(func.value, site.scope)
            if isinstance(o.expr, ast.Call)
        ]
        if not any(
            (module.resolver.call_name(o.expr, o.scope) or "").startswith("optuna.")
            for o in studies
        ):
            continue
        objective = site.node.args[0]
        scope = (
            module.collected.functions.get(objective.id)
            if isinstance(objective, ast.Name)
            else None
        )
        for call in scope.calls if scope else []:
            values = [*call.node.args, *(k.value for k in call.node.keywords)]
            if any(_is_test(module, v, call) for v in values):
                yield Hit(
                    module.path,
                    call.node,
                    "the hyper-parameter objective scores on test data",
                    "score trials on a validation split; keep the test set for the final model",
                )
                break


def _test_in_search_loop(module: ModuleFacts) -> Iterator[Hit]:
    """A loop over candidate hyper-parameter values (`for lr in [1e-3, 1e-2]:`) that trains,
    scores on test data, and keeps the candidate whose test score is best (an `if` on it)."""
    for scope in module.collected.scopes:
        if scope.in_test:
            continue
        for loop in scope.loops:
            if not _over_candidates(module, loop, scope):
                continue
            inside = [s for s in scope.calls if loop in s.loops]
            trains = module.training.training_functions
            if not any(_trains(s) or module.training.is_training_call(s, trains) for s in inside):
                continue
            compared = set().union(
                *(
                    _names_in(stmt.test)
                    for stmt in chain.from_iterable(loop_blocks(loop.body))
                    if isinstance(stmt, ast.If)
                )
            )
            for site in inside:
                if any(_is_test(module, a, site) for a in _data_args(site)) and (
                    _computed_from(id(site.node), loop) & compared
                ):
                    yield Hit(
                        module.path,
                        site.node,
                        "hyper-parameters are chosen by their score on test data",
                        "compare candidates on a validation split (or cross-validation); "
                        "score only the chosen model on the test set",
                    )
                    break


def _over_candidates(module: ModuleFacts, loop: ast.AST, scope) -> bool:
    """`for value in [a, b, c]:` (also through a name bound to such a list), or over
    `itertools.product`/`ParameterGrid` of such lists."""
    if not isinstance(loop, ast.For):
        return False
    for origin in module.resolver.origins(loop.iter, scope):
        value = origin.expr
        if isinstance(value, ast.List | ast.Tuple) and len(value.elts) >= 2:
            return True
        if isinstance(value, ast.Call) and module.resolver.call_name(value, origin.scope) in (
            tables.CANDIDATE_GRIDS
        ):
            return True
    return False


def _trains(site: CallSite) -> bool:
    func = site.node.func
    return isinstance(func, ast.Attribute) and func.attr in tables.KERAS_TRAIN_METHODS | {
        "backward",
        "train",
    }


def _data_args(site: CallSite) -> list[ast.expr]:
    values = [*site.node.args, *(k.value for k in site.node.keywords)]
    out = [e for v in values for e in (v.elts if isinstance(v, ast.Tuple | ast.List) else [v])]
    return [v for v in out if isinstance(v, ast.Name | ast.Attribute | ast.Subscript)]


def _computed_from(call: int, loop: ast.AST) -> set[str]:
    """Names the loop assigns from the call (by `id`), and, two steps on, from those names."""
    names: set[str] = set()
    statements = [
        n for n in walk_body(loop) if isinstance(n, ast.Assign | ast.AugAssign | ast.AnnAssign)
    ]
    for stmt in statements:
        if stmt.value is not None and any(id(n) == call for n in ast.walk(stmt.value)):
            names |= _targets(stmt)
    for _ in range(2):
        for stmt in statements:
            if stmt.value is not None and _names_in(stmt.value) & names:
                names |= _targets(stmt)
    return names


def _targets(stmt: ast.Assign | ast.AugAssign | ast.AnnAssign) -> set[str]:
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _names_in(expr: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(expr) if isinstance(n, ast.Name)}
