"""Training steps for the over-fit test and the LR finder.

`OwnSteps` runs them on the bundle (factory mode); `nnlint.probe.loop.LoopSteps` runs them
through the user's own training loop (zero-config mode). Either yields one `Step` per
training step, after the backward pass and before the optimizer's update; the consumer
stops the run by leaving the loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Cycle:
    """Batches to train on in turn (a batch itself may be a list, as a DataLoader's are)."""

    batches: tuple[Any, ...]


@dataclass
class Step:
    """What one training step showed: its loss, whether the loss has a gradient, the
    model's output, whether every gradient came out exactly zero, and who ran it."""

    value: float
    requires_grad: bool
    out: Any = None
    zero_grads: bool = False
    loop: bool = False  # the script's own loop ran it (zero-config mode)


def all_zero(model: torch.nn.Module) -> bool:
    """True when the model has gradients and every one is exactly zero."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    return bool(grads) and not any(bool(g.any()) for g in grads)


class OwnSteps:
    """The probe's own steps on the bundle: zero_grad, loss, backward, step."""

    def __init__(self, probe: Any) -> None:
        self.probe = probe

    def run(
        self, fixed: Any, optimizer: Any, steps: int, lrs: list[float] | None = None
    ) -> Iterator[Step]:
        """`steps` steps on the batch `fixed` (a `Cycle`: on each of its batches in turn;
        None: on fresh batches), at the learning rates `lrs` when given."""
        probe = self.probe
        probe.model.train()
        if isinstance(fixed, Cycle):
            batches = itertools.cycle(fixed.batches)
        else:
            batches = itertools.repeat(fixed) if fixed is not None else probe.data_batches()
        for index in range(steps):
            if lrs is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lrs[index]
            optimizer.zero_grad(set_to_none=True)
            loss, out = probe.loss_on(next(batches))
            step = Step(float(loss.detach()), loss.requires_grad, out)
            if math.isfinite(step.value) and loss.requires_grad:
                loss.backward()
                if probe.b.clip is not None:  # the script clips its gradients: so do its steps
                    probe.b.clip([p for p in probe.model.parameters() if p.grad is not None])
                step.zero_grads = all_zero(probe.model)
            yield step
            optimizer.step()
