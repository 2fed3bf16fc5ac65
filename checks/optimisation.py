"""NN4: optimisation — learning rates, weight decay, warm-up."""

from __future__ import annotations

from collections.abc import Iterator

from nnlint import tables
from nnlint.facts.hyper import optimizer_calls, sets_lr_by_schedule, training_batch_sizes, warms_up
from nnlint.facts.values import argument
from nnlint.project import Project
from nnlint.rules import Hit, rule


@rule(
    "NN401",
    "learning-rate-outside-sane-range",
    severity="warning",
    summary="A learning rate far outside the sane range for its optimizer.",
)
def learning_rate_out_of_range(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Reads the learning rate given to an optimizer (`torch.optim.*`, `keras.optimizers.*`,
    Hugging Face `TrainingArguments(learning_rate=...)`) from a literal, a constant or an
    argparse default, and reports it when it is outside the sane range for that optimizer:
    Adam-family and RMSprop 1e-6..3e-2, SGD 1e-5..5 (large-batch SGD scales up to a few
    units), Adagrad 1e-5..0.5, Adadelta 1e-2..10 (a table in `nnlint.tables.LR_RANGES`). A tf.keras
    optimizer created without a rate has tf.keras's default, which for Adadelta (1e-3) is
    far below the paper's 1.0.
    The bounds are loose on purpose: small networks and RL agents train well with Adam at
    1e-2..3e-2.

    ## Why is this bad?
    Too high a learning rate makes the loss oscillate or diverge to NaN; too low and the
    network barely moves in the epochs it is given. Adaptive optimizers like Adam work
    around 1e-3 (1e-5..5e-5 for fine-tuning); 0.1 is a normal rate for SGD and far too
    high for Adam.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    ```

    ## Known limits
    Rates computed at run time are not checked. Optimizers driven by `OneCycleLR` or
    `CyclicLR`, which set the rate themselves, are skipped.

    ## Fix safety
    No automatic fix: the right rate depends on the model.

    ## References
    - Smith, "Cyclical Learning Rates for Training Neural Networks" (2017)
    - https://pytorch.org/docs/stable/optim.html
    """
    for module in project.modules:
        if sets_lr_by_schedule(module):
            continue
        for optimizer in optimizer_calls(module):
            value = optimizer.lr_value(module)
            if value is None or value <= 0:
                continue
            low, high = tables.LR_RANGES[optimizer.name.lower()]
            if low <= value <= high:
                continue
            direction = "high" if value > high else "low"
            implicit = (
                " (tf.keras's default: no learning_rate is given)" if not optimizer.lr else ""
            )
            yield Hit(
                module.path,
                optimizer.lr or optimizer.site.node,
                f"learning rate {value:g}{implicit} is very {direction} for {optimizer.name} "
                f"(sane range {low:g} to {high:g})",
                "start near the optimizer's usual rate (1e-3 for Adam, 0.01-0.1 for SGD) "
                "and tune with an LR range test",
            )


@rule(
    "NN402",
    "adam-weight-decay",
    severity="warning",
    summary="`torch.optim.Adam` with `weight_decay`, where decoupled AdamW is meant.",
)
def adam_weight_decay(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds `torch.optim.Adam(..., weight_decay=w)` with a known `w > 0`.

    ## Why is this bad?
    PyTorch's `Adam` implements weight decay as an L2 term added to the gradient, which
    Adam's per-parameter scaling then divides away: parameters with large gradients are
    barely decayed, and the regularisation is much weaker and less predictable than
    intended. `AdamW` decouples the decay from the gradient step, which is what weight
    decay is meant to be and what the usual hyper-parameters assume.

    ## Example
    ```python
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    ```

    ## Known limits
    A weight decay that is not a literal, a constant or an argparse default is not checked.
    Keras 3 optimizers already decouple `weight_decay` and are not reported.

    ## Fix safety
    Replacing `Adam` with `AdamW` changes the optimisation (as intended): review the decay
    value, since AdamW's usual values (1e-2) are larger than L2's.

    ## References
    - Loshchilov & Hutter, "Decoupled Weight Decay Regularization" (2019)
    - https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
    """
    for module in project.modules:
        for site in module.collected.training_calls:
            if site.qualname not in tables.TORCH_ADAM:
                continue
            decay = argument(site.node, "weight_decay", tables.ADAM_WEIGHT_DECAY_POSITION)
            value = module.resolver.constant(decay, site.scope) if decay is not None else None
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                yield Hit(
                    module.path,
                    site.node,
                    f"Adam with weight_decay={value:g} adds an L2 term that Adam's adaptive "
                    "scaling weakens; this is not decoupled weight decay",
                    "use torch.optim.AdamW for weight decay",
                )


@rule(
    "NN403",
    "large-batch-without-lr-warmup",
    severity="info",
    summary="A training batch of 1024 or more with no learning-rate warm-up.",
    default=False,
)
def large_batch_without_warmup(project: Project) -> Iterator[Hit]:
    """
    ## What it does
    Finds training batch sizes of 1024 or more (a training DataLoader's `batch_size`, Keras
    `fit(batch_size=...)`, Hugging Face `per_device_train_batch_size`) in a module that
    shows no learning-rate warm-up: no `LinearLR`/`OneCycleLR`/`SequentialLR`, no
    `get_*_with_warmup` schedule, no `warmup_steps`/`warmup_ratio`, nothing named
    warm-up. Off by default: select `NN403` to run it.

    ## Why is this bad?
    Large batches are trained with proportionally larger learning rates (the linear
    scaling rule); starting at that rate from random weights makes early training
    unstable or divergent. A few epochs of linear warm-up from a small rate fix this.

    ## Example
    ```python
    loader = DataLoader(train_set, batch_size=4096, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=1.6, momentum=0.9)
    ```

    ## Use instead
    ```python
    warmup = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=0.1, total_iters=5)
    ```

    ## Known limits
    Evaluation loaders are ignored. A warm-up written by hand under another name is not
    recognised; with a small learning rate a large batch may not need one.

    ## Fix safety
    No automatic fix.

    ## References
    - Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour" (2017)
    """
    for module in project.modules:
        sizes = [b for b in training_batch_sizes(module) if b.value >= tables.LARGE_BATCH]
        if not sizes or warms_up(module):
            continue
        for size in sizes:
            yield Hit(
                module.path,
                size.site.node,
                f"training batch size {size.value} with no learning-rate warm-up",
                "warm the learning rate up over the first epochs (LinearLR, OneCycleLR, "
                "warmup_steps)",
            )
