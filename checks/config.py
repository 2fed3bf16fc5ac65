"""NN7: training configs (YAML/JSON) — parse errors, schemas, hyper-parameters.

Config mistakes that are the same as a code mistake keep the code's rule (NN202, NN203,
NN301): those rules call the `*_in_configs` functions here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from nnlint import tables
from nnlint.configs import ConfigFile, keys
from nnlint.configs.join import config_value
from nnlint.configs.schema import violations
from nnlint.configs.settings import (
    has_step_limit,
    mentions_early_stopping,
    names_test_split,
    optimizer_family,
    optimizer_of,
    sets_up_training,
    split_role,
    under_scheduler,
    unstopped,
)
from nnlint.configs.tree import Node
from nnlint.facts.data import name_role
from nnlint.project import Project
from nnlint.rules import Hit, rule


def config_hit(config: ConfigFile, node: Node | tuple[int, int], message: str, help: str) -> Hit:
    """A finding at a config position; columns go in as UTF-8 bytes, as `ast` gives them."""
    line, col = (node.line, node.col) if isinstance(node, Node) else node
    lines = config.text.splitlines()
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    return Hit(config.display, (line, len(text[:col].encode("utf-8"))), message, help)


def _show(node: Node) -> str:
    value = node.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


@rule(
    "NN700",
    "config-syntax-error",
    severity="error",
    summary="A training config (YAML/JSON) does not parse.",
)
def config_syntax_error(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Reports a YAML or JSON training config that cannot be read, at the error's line and
    column: bad indentation, an unclosed bracket, a trailing comma in JSON, or aliases that
    expand to an enormous document ("billion laughs").

    ## Why is this bad?
    The run that loads it fails at start-up, after the job has waited in the queue, and no
    other check can look at the settings it holds.

    ## Example
    ```yaml
    optimizer:
      lr: 0.001
     weight_decay: 0.01
    ```

    ## Use instead
    ```yaml
    optimizer:
      lr: 0.001
      weight_decay: 0.01
    ```

    ## Known limits
    Only files recognised as training configs (two training keys in the text, or named by
    `config-files`) are reported; other broken YAML/JSON is not nnlint's business.

    ## Fix safety
    No automatic fix.

    ## References
    - https://yaml.org/spec/1.2.2/
    - https://en.wikipedia.org/wiki/Billion_laughs_attack
    """
    for config in project.configs:
        if config.error is not None and config.training:
            yield config_hit(
                config,
                (config.error.line, config.error.col),
                f"cannot parse config: {config.error.message}",
                "fix the syntax; nothing else in this config was checked",
            )


@rule(
    "NN701",
    "config-schema-violation",
    severity="error",
    summary="A config key is misspelt or has a value of the wrong type for its schema.",
)
def config_schema_violation(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Validates Lightning CLI configs (`trainer`, `model`, `data`, `optimizer`,
    `lr_scheduler`), Hydra nodes whose `_target_` is a Lightning `Trainer`, and Hugging
    Face `TrainingArguments` files with the JSON Schemas nnlint ships, and any config
    matched by `[tool.nnlint] config-schemas` with the user's schema. Each violation is
    reported at its key with the key path; an unknown key comes with a did-you-mean.

    ## Why is this bad?
    A misspelt key (`max_epoch`, `learning_rat`) is either rejected after the job starts
    or, worse, silently ignored so the default runs instead of what was written.

    ## Example
    ```yaml
    trainer:
      max_epoch: 50
    ```

    ## Use instead
    ```yaml
    trainer:
      max_epochs: 50
    ```

    ## Known limits
    Hugging Face argument files often mix in model and data arguments, so there an
    unknown key is reported only when it is very close to a `TrainingArguments` field.
    Values written as interpolations (`${...}`) are not type-checked.

    ## Fix safety
    No automatic fix.

    ## References
    - https://lightning.ai/docs/pytorch/stable/cli/lightning_cli.html
    - https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments
    """
    for config in project.training_configs():
        try:
            found = list(violations(config))
        except ValueError as error:
            yield config_hit(config, (1, 0), str(error), "fix the schema named in config-schemas")
            continue
        for violation in found:
            yield config_hit(config, violation.node, violation.message, violation.help)


@rule(
    "NN702",
    "config-learning-rate-out-of-range",
    severity="warning",
    summary="A config's learning rate is far outside the sane range for its optimizer.",
)
def learning_rate_out_of_range(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Compares each learning rate in a training config with a loose sane range for the
    optimizer it goes to (Adam/AdamW 1e-6..1e-2, SGD 1e-5..1.0, ...): the optimizer named
    next to it, above its `init_args`, at the top of the config, or `optim` for Hugging
    Face (AdamW by default). When Python code passes the value to an optimizer
    (`optim.Adam(params, lr=cfg["lr"])`), the code's optimizer is used and the finding
    names the code line.

    ## Why is this bad?
    Too high and the loss diverges or bounces; too low and nothing trains in the time
    budget. "0.001 is the standard for Adam; 0.1 is very high" — an extra zero or a
    missing minus sign in an exponent is a common typo that wastes the whole run.

    ## Example
    ```yaml
    optimizer:
      class_path: torch.optim.Adam
      init_args:
        lr: 0.1
    ```

    ## Use instead
    ```yaml
    optimizer:
      class_path: torch.optim.Adam
      init_args:
        lr: 0.001
    ```

    ## Known limits
    Ranges are deliberately wide; schedules that scale the rate (linear scaling with
    batch size, OneCycle's `max_lr`) are not considered. Without a named optimizer only
    rates above 1 or below 1e-7 are reported.

    ## Fix safety
    No automatic fix.

    ## References
    - Smith, "Cyclical Learning Rates for Training Neural Networks" (2017)
    - https://pytorch.org/docs/stable/optim.html
    """
    seen: set[int] = set()
    for config, node, name, used_by in _code_uses(project, keys.LEARNING_RATE):
        hit = _lr_hit(config, node, name, used_by)
        if hit is not None:
            seen.add(id(node))
            yield hit
    for config in project.training_configs():
        for node in config.keyed(keys.LEARNING_RATE):
            if id(node) in seen or under_scheduler(node) or node.number is None:
                continue
            name, _ = optimizer_of(config, node)
            hit = _lr_hit(config, node, name, None)
            if hit is not None:
                yield hit


def _lr_hit(config: ConfigFile, node: Node, name: str | None, used_by: str | None) -> Hit | None:
    value = node.number
    if value is None:
        return None
    family = optimizer_family(name)
    low, high = tables.LR_RANGES.get(family or "", tables.DEFAULT_LR_RANGE)
    if name is not None and family is None:
        low, high = tables.DEFAULT_LR_RANGE
    if low <= value <= high:
        return None
    where = f" (used by {used_by})" if used_by else ""
    shown = name or "any optimizer"
    side = "above" if value > high else "below"
    return config_hit(
        config,
        node,
        f"learning rate {_show(node)} is far {side} the sane range for {shown} "
        f"({low:g}..{high:g}){where}",
        "check the value for a typo; start from the optimizer's usual rate "
        "(1e-3 for Adam, 0.1 for SGD) and tune from there",
    )


_OPTIMIZER_PREFIXES = ("torch.optim.", "keras.optimizers.", "torch_optimizer.")
_DROPOUTS = ("torch.nn.Dropout", "keras.layers.Dropout", "torch.nn.functional.dropout")


def _code_uses(
    project: Project, names: frozenset[str]
) -> Iterator[tuple[ConfigFile, Node, str | None, str]]:
    """Config nodes that code passes to an optimizer as one of `names` (`lr=cfg.lr`):
    (config, node, the optimizer's class name, `train.py:12`)."""
    for module in project.modules:
        for site in module.collected.training_calls:
            qualname = site.qualname or ""
            if not qualname.startswith(_OPTIMIZER_PREFIXES):
                continue
            optimizer = qualname.rsplit(".", 1)[-1].lower()
            for keyword in site.node.keywords:
                wanted = keyword.arg in names or (keyword.arg == "learning_rate" and "lr" in names)
                if not wanted:
                    continue
                found = config_value(project, module, keyword.value, site.scope)
                if found is not None:
                    yield found.config, found.node, optimizer, f"{module.path}:{site.node.lineno}"
            if "lr" in names and len(site.node.args) > 1 and qualname.startswith("torch.optim."):
                found = config_value(project, module, site.node.args[1], site.scope)
                if found is not None:
                    yield found.config, found.node, optimizer, f"{module.path}:{site.node.lineno}"


@rule(
    "NN703",
    "adam-with-weight-decay",
    severity="warning",
    summary="Adam with `weight_decay` in a config, where decoupled AdamW is meant.",
)
def adam_with_weight_decay(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a config that gives Adam (or NAdam, RAdam, Adamax) a non-zero `weight_decay`,
    in the config itself or through code that passes the config's value to `Adam`.

    ## Why is this bad?
    In Adam, `weight_decay` is an L2 term added to the gradient, which the adaptive
    scaling then shrinks for exactly the weights that move most: it regularises far less
    than intended. AdamW decouples the decay from the gradient and is what "Adam with
    weight decay" almost always means.

    ## Example
    ```yaml
    optimizer:
      _target_: torch.optim.Adam
      lr: 0.001
      weight_decay: 0.01
    ```

    ## Use instead
    ```yaml
    optimizer:
      _target_: torch.optim.AdamW
      lr: 0.001
      weight_decay: 0.01
    ```

    ## Known limits
    The optimizer must be named in the config or in the code that reads it.

    ## Fix safety
    No automatic fix.

    ## References
    - Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (2019)
    """
    seen: set[int] = set()
    uses = list(_code_uses(project, keys.WEIGHT_DECAY))
    configs = [
        (config, node, optimizer_of(config, node)[0], None)
        for config in project.training_configs()
        for node in config.keyed(keys.WEIGHT_DECAY)
    ]
    for config, node, name, used_by in [*uses, *configs]:
        if id(node) in seen or not (node.number or 0) > 0:
            continue
        if optimizer_family(name) in keys.COUPLED_DECAY_OPTIMIZERS:
            seen.add(id(node))
            yield config_hit(
                config,
                node,
                f"weight_decay {_show(node)} with {name}"
                + (f" (used by {used_by})" if used_by else "")
                + ": Adam adds it to the gradient (L2), which its adaptive scaling weakens",
                "use AdamW for decoupled weight decay",
            )


@rule(
    "NN704",
    "dropout-too-high",
    severity="warning",
    summary="A dropout rate above 0.5 in a config.",
)
def dropout_too_high(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds dropout rates above 0.5 in training configs (`dropout`, `hidden_dropout_prob`,
    `drop_rate`), and config values above 0.5 that code passes to `nn.Dropout` or Keras
    `Dropout`.

    ## Why is this bad?
    Dropout above 0.5 drops most activations: the network under-fits, trains slowly and
    the train/test behaviour gap grows. Rates of 0.1-0.5 are the usual range; start low.

    ## Example
    ```yaml
    model:
      hidden_size: 256
      dropout: 0.8
    ```

    ## Use instead
    ```yaml
    model:
      hidden_size: 256
      dropout: 0.3
    ```

    ## Known limits
    A key is a dropout rate when its name says so; keep-probabilities (`keep_prob`) and
    stochastic depth (`drop_path_rate`) are not checked.

    ## Fix safety
    No automatic fix.

    ## References
    - Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting" (2014)
    """
    seen: set[int] = set()
    for config, node in [*_code_dropouts(project), *_config_dropouts(project)]:
        value = node.number
        if id(node) in seen or value is None or not keys.MAX_DROPOUT < value <= 1:
            continue
        seen.add(id(node))
        yield config_hit(
            config,
            node,
            f"dropout {_show(node)} drops most activations",
            f"use a rate of at most {keys.MAX_DROPOUT} (0.1-0.3 is typical)",
        )


def _config_dropouts(project: Project) -> Iterator[tuple[ConfigFile, Node]]:
    for config in project.training_configs():
        for node in config.nodes():
            key = node.key
            if ("dropout" in key or key in {"drop_rate", "drop_prob", "p_drop"}) and (
                "keep" not in key and "path" not in key
            ):
                yield config, node


def _code_dropouts(project: Project) -> Iterator[tuple[ConfigFile, Node]]:
    for module in project.modules:
        for site in module.collected.training_calls:
            if not (site.qualname or "").startswith(_DROPOUTS):
                continue
            call = site.node
            values: list[ast.expr] = [k.value for k in call.keywords if k.arg in {"p", "rate"}]
            values += call.args[:1]
            for value in values:
                found = config_value(project, module, value, site.scope)
                if found is not None:
                    yield found.config, found.node


@rule(
    "NN705",
    "recurrent-without-gradient-clipping",
    severity="warning",
    summary="A config trains a recurrent model (RNN/LSTM/GRU) without gradient clipping.",
)
def recurrent_without_gradient_clipping(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a training config whose model is recurrent (a model name, type, `class_path` or
    `_target_` mentioning LSTM, GRU or RNN) and that sets no gradient clipping
    (`gradient_clip_val`, `max_grad_norm`, `clip_grad_norm`, `grad_clip`...), or sets it to
    zero. Hugging Face clips at 1.0 by default and is reported only when clipping is off.

    ## Why is this bad?
    Back-propagation through time multiplies gradients across every step: one long or
    unusual sequence makes them explode, and a single huge update wrecks the weights
    (loss jumps to NaN). Clipping the gradient norm is the standard guard.

    ## Example
    ```yaml
    model:
      type: lstm
      hidden_size: 512
    trainer:
      max_epochs: 30
    ```

    ## Use instead
    ```yaml
    model:
      type: lstm
      hidden_size: 512
    trainer:
      max_epochs: 30
      gradient_clip_val: 1.0
    ```

    ## Known limits
    Only configs that set up training themselves (epochs or steps plus an optimizer or
    learning rate, no Hydra defaults list) are judged; clipping done in code is not seen.

    ## Fix safety
    No automatic fix.

    ## References
    - Pascanu et al., "On the difficulty of training recurrent neural networks" (2013)
    """
    for config in project.training_configs():
        if not sets_up_training(config):
            continue
        recurrent = next((n for n in config.nodes() if _names_recurrent(n)), None)
        if recurrent is None:
            continue
        clips = [n for n in config.nodes() if n.key in keys.CLIPPING]
        if config.hf_arguments is not None and not clips:
            continue
        if any((n.number or 0) > 0 or n.kind == "map" for n in clips):
            continue
        yield config_hit(
            config,
            recurrent,
            f"recurrent model `{_show(recurrent)}` is trained without gradient clipping",
            "clip the gradient norm (gradient_clip_val: 1.0 / max_grad_norm: 1.0)",
        )


_MODEL_KEYS = frozenset(
    {
        "type",
        "name",
        "arch",
        "architecture",
        "model",
        "model_type",
        "cell",
        "rnn_type",
        "cell_type",
        "class_path",
        "_target_",
        "encoder",
        "decoder",
        "backbone",
        "network",
    }
)


def _names_recurrent(node: Node) -> bool:
    text = (node.text or "").lower()
    if node.key not in _MODEL_KEYS or not text or "/" in text:
        return False
    words = {w for part in text.replace(".", "_").split("_") for w in [part]}
    return any(any(r in w for r in keys.RECURRENT_WORDS) for w in words)


@rule(
    "NN706",
    "huge-epoch-count",
    severity="warning",
    summary="A config trains for a huge number of epochs with nothing to stop it early.",
)
def huge_epoch_count(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds an epoch count of 1000 or more (or Lightning's `max_epochs: -1`, no limit) in a
    config that mentions no early stopping or patience and sets no step or time limit.

    ## Why is this bad?
    Nothing but the epoch count ends such a run: it keeps fitting noise long after the
    validation loss bottomed out, and burns the compute budget doing so.

    ## Example
    ```yaml
    epochs: 5000
    lr: 0.001
    ```

    ## Use instead
    ```yaml
    epochs: 5000
    lr: 0.001
    early_stopping:
      monitor: val_loss
      patience: 20
    ```

    ## Known limits
    Early stopping added in code is not seen; name it in the config (`patience`) or
    silence the line with `# noqa: NN706`.

    ## Fix safety
    No automatic fix.

    ## References
    - Prechelt, "Early Stopping — But When?" (1998)
    """
    for config in project.training_configs():
        if mentions_early_stopping(config) or has_step_limit(config):
            continue
        already = {id(n) for n, _ in unstopped(config, project.settings.early_stopping_epochs)}
        for node in config.keyed(keys.EPOCHS):
            value = node.number
            if value is None or id(node) in already:
                continue
            endless = value == -1 and node.key == "max_epochs"
            if value >= keys.HUGE_EPOCHS or endless:
                shown = "no epoch limit (-1)" if endless else f"{_show(node)} epochs"
                yield config_hit(
                    config,
                    node,
                    f"{shown} and nothing stops training early",
                    "add early stopping on a validation metric, or a sane epoch count",
                )


@rule(
    "NN707",
    "no-seed",
    severity="info",
    summary="A training config sets no random seed.",
)
def no_seed(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a config that sets up a whole training run (epochs or steps, and an optimizer or
    learning rate) but no seed (`seed`, `random_seed`, `seed_everything`), and Lightning CLI
    configs with `seed_everything: false`.

    ## Why is this bad?
    "Fix random seeds": without one, two runs of the same config differ, so a change in the
    score cannot be told apart from noise, and a good run cannot be reproduced.

    ## Example
    ```yaml
    epochs: 30
    optimizer: adamw
    lr: 0.0003
    ```

    ## Use instead
    ```yaml
    seed: 42
    epochs: 30
    optimizer: adamw
    lr: 0.0003
    ```

    ## Known limits
    A seed set in code is not seen. Hydra configs with a defaults list, Hugging Face
    arguments (seed 42 by default) and Lightning CLI configs (which draw and log a seed by
    default) are not reported for a missing key.

    ## Fix safety
    No automatic fix.

    ## References
    - https://pytorch.org/docs/stable/notes/randomness.html
    """
    for config in project.training_configs():
        if config.lightning is not None:
            seed = config.lightning.get("seed_everything")
            if seed is not None and (seed.value is False or seed.value is None):
                yield config_hit(
                    config,
                    seed,
                    f"seed_everything: {_show(seed)} leaves every run unseeded",
                    "set seed_everything to a number (or true to draw and log one)",
                )
            continue
        if config.hf_arguments is not None or not sets_up_training(config):
            continue
        if any(n.key in keys.SEED for n in config.nodes()):
            continue
        first = next(iter(config.root.children.values())) if config.root else None
        if first is not None:
            yield config_hit(
                config,
                first,
                "the training config sets no random seed",
                "add `seed: 42` (and seed every library from it in code)",
            )


@rule(
    "NN708",
    "label-smoothing-out-of-range",
    severity="warning",
    summary="Label smoothing below 0 or above 0.3 in a config.",
)
def label_smoothing_out_of_range(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `label_smoothing` / `label_smoothing_factor` values below 0 or above 0.3.

    ## Why is this bad?
    Label smoothing moves a share of each target's probability to the other classes.
    0.05-0.2 regularises; large values make the targets nearly uniform, so the model learns
    to be uncertain and accuracy drops, and values of 1 or more are not a distribution.

    ## Example
    ```yaml
    loss:
      name: cross_entropy
      label_smoothing: 0.9
    ```

    ## Use instead
    ```yaml
    loss:
      name: cross_entropy
      label_smoothing: 0.1
    ```

    ## Known limits
    Only keys named for label smoothing are checked.

    ## Fix safety
    No automatic fix.

    ## References
    - Szegedy et al., "Rethinking the Inception Architecture" (2016), section 7
    - Müller et al., "When Does Label Smoothing Help?" (2019)
    """
    for config in project.training_configs():
        for node in config.keyed(keys.LABEL_SMOOTHING):
            value = node.number
            if value is not None and not 0 <= value <= keys.MAX_LABEL_SMOOTHING:
                yield config_hit(
                    config,
                    node,
                    f"label smoothing {_show(node)} is outside 0..{keys.MAX_LABEL_SMOOTHING}",
                    "use 0.05-0.2",
                )


@rule(
    "NN709",
    "large-batch-without-warmup",
    severity="warning",
    summary="A very large batch (1024 or more) trained without learning-rate warm-up.",
)
def large_batch_without_warmup(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds a training batch of 1024 or more samples (`batch_size` times gradient
    accumulation) in a config that sets up training with no warm-up: no `warmup*` key
    with a positive value and no warm-up or one-cycle scheduler.

    ## Why is this bad?
    Large batches are trained with proportionally large learning rates, and at the start,
    with random weights, such a rate diverges. A few epochs of linear warm-up is what makes
    large-batch training work.

    ## Example
    ```yaml
    data:
      batch_size: 4096
    optimizer:
      name: sgd
      lr: 1.6
    ```

    ## Use instead
    ```yaml
    data:
      batch_size: 4096
    optimizer:
      name: sgd
      lr: 1.6
    scheduler:
      warmup_epochs: 5
    ```

    ## Known limits
    The batch is per process: data-parallel runs multiply it further, which nnlint cannot
    see. Warm-up done in code is not seen.

    ## Fix safety
    No automatic fix.

    ## References
    - Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour" (2017)
    """
    for config in project.training_configs():
        if not sets_up_training(config) or _warms_up(config):
            continue
        accumulation = next(
            (
                n.number
                for n in config.nodes()
                if n.key in {"accumulate_grad_batches", "gradient_accumulation_steps"} and n.number
            ),
            1,
        )
        for node in config.keyed(keys.BATCH_SIZE):
            if any(split_role(str(p)) for p in node.path) or node.number is None:
                continue
            total = node.number * accumulation
            if total >= keys.LARGE_BATCH:
                yield config_hit(
                    config,
                    node,
                    f"batch of {int(total)} samples trained without learning-rate warm-up",
                    "warm the learning rate up over the first steps or epochs "
                    "(warmup_steps / warmup_ratio, a linear warm-up scheduler)",
                )


def _warms_up(config: ConfigFile) -> bool:
    for node in config.nodes():
        if any(w in node.key for w in keys.WARMUP_WORDS) and (node.number or 0) > 0:
            return True
        text = (node.text or "").lower()
        if "warmup" in text.replace("_", "") or "onecycle" in text:
            return True
    return False


# -- code rules' config halves -----------------------------------------------------------
def unshuffled_in_configs(project: Project) -> Iterator[Hit]:
    """NN202 in configs: `shuffle: false` for training data (`train.shuffle`,
    `train_dataloader.shuffle`, `shuffle_train`)."""
    for config in project.training_configs():
        for node in config.keyed(keys.SHUFFLE):
            if node.value is not False:
                continue
            for_training = node.key != "shuffle" or any(
                isinstance(p, str) and name_role(p) == "train" for p in node.path[:-1]
            )
            if for_training:
                yield config_hit(
                    config,
                    node,
                    f"`{node.dotted}: false` feeds the training data in a fixed order",
                    "set shuffle: true for the training data",
                )


def test_as_validation_in_configs(project: Project) -> Iterator[Hit]:
    """NN203 in configs: validation data that is the test data (`val_path` equal to
    `test_path`, `eval_dataset: test`, `validation_file: data/test.jsonl`)."""
    for config in project.training_configs():
        nodes = config.nodes()
        tests = {n.text for n in nodes if n.text and split_role(n.key) == "test"}
        for node in nodes:
            if split_role(node.key) != "val" or not node.text or node.is_interpolation:
                continue
            if node.text in tests or names_test_split(node.text):
                yield config_hit(
                    config,
                    node,
                    f"`{node.dotted}: {node.text}` validates on the test data",
                    "validate on a split of the training data; keep the test set for the end",
                )


def unstopped_in_configs(project: Project) -> Iterator[Hit]:
    """NN301 in configs: a Lightning Trainer with callbacks but no EarlyStopping for many
    epochs; TrainingArguments that evaluate for many epochs without keeping the best."""
    for config in project.training_configs():
        for node, message in unstopped(config, project.settings.early_stopping_epochs):
            yield config_hit(
                config,
                node,
                message,
                "add an EarlyStopping callback (Lightning) or load_best_model_at_end and "
                "early_stopping_patience (Hugging Face)",
            )


def unshuffled_via_code(project: Project, loaders: list) -> Iterator[Hit]:
    """NN202 through the join: a training DataLoader's `shuffle=` that reads `false` from a
    config. `loaders` are (module, call site) pairs of training DataLoaders."""
    for module, site in loaders:
        argument = next((k.value for k in site.node.keywords if k.arg == "shuffle"), None)
        if argument is None and len(site.node.args) > 2:
            argument = site.node.args[2]
        found = config_value(project, module, argument, site.scope)
        if found is not None and found.node.value is False:
            yield config_hit(
                found.config,
                found.node,
                f"`{found.node.dotted}: false` turns shuffling off for the training "
                f"DataLoader at {module.path}:{site.node.lineno}",
                "set it to true (validation and test loaders can keep their own setting)",
            )
