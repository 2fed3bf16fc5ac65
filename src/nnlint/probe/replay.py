"""What a training step does between the model's output (or the loader's targets) and the
loss, recorded op by op and replayed on the probe's own batches.

Scripts rarely hand the model's output straight to the loss: `logits.view(-1, C)`,
`out[:, -1]`, `y.reshape(-1)`, `out.permute(0, 2, 1)`. While the script runs, every torch
call (function or tensor method) outside the model's forward that takes a tracked tensor
(a model output, a loader batch's tensor, or a result of such a call) is recorded; at the
first step the chain from the loss's arguments back to the model output and the batch's
targets is read off those records. Replaying applies the same calls to new tensors; a
`view`/`reshape` whose first size was the old batch's (`view(batch * seq, -1)`) gets -1
there, so a smaller batch fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nnlint.probe.batches import tensors

RESHAPES = {"view", "reshape"}


@dataclass(frozen=True)
class Op:
    """One recorded call: `func(*args, **kwargs)` with the carried tensor at `slot` (an
    index into args)."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    slot: int

    def __call__(self, value: Any) -> Any:
        args = list(self.args)
        args[self.slot] = value
        try:
            return self.func(*args, **self.kwargs)
        except RuntimeError:
            if getattr(self.func, "__name__", "") not in RESHAPES or self.slot != 0:
                raise
            return self.func(*_free_first_size(args), **self.kwargs)

    def describe(self) -> str:
        name = getattr(self.func, "__name__", repr(self.func))
        shown = [("<t>" if i == self.slot else _short(a)) for i, a in enumerate(self.args)]
        return f"{name}({', '.join(shown[1:] if self.slot == 0 else shown)})"


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)}"
    return repr(value)


def _free_first_size(args: list[Any]) -> list[Any]:
    """`view(a, b, c)` / `view((a, b, c))` -> the same with -1 for `a` (no -1 elsewhere)."""
    sizes = args[1:]
    nested = len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size))
    dims = list(sizes[0] if nested else sizes)
    if not dims or -1 in dims:
        return args
    dims[0] = -1
    return [args[0], tuple(dims)] if nested else [args[0], *dims]


@dataclass
class Record:
    """A recorded call and its result (kept alive, so ids stay unique while recorded)."""

    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    result: Any


class Recorder:
    """Tracked tensors and the calls made on them, for one training step."""

    def __init__(self) -> None:
        self.tracked: dict[int, torch.Tensor] = {}
        self.records: dict[int, tuple[Record, int]] = {}  # result id -> (call, slot)

    def clear(self) -> None:
        self.tracked.clear()
        self.records.clear()

    def track(self, value: Any) -> None:
        for tensor in tensors(value):
            self.tracked[id(tensor)] = tensor

    def see(
        self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict, result: Any
    ) -> None:
        """A torch call outside the model: record it when it takes a tracked tensor."""
        slot = next(
            (
                i
                for i, a in enumerate(args)
                if isinstance(a, torch.Tensor) and id(a) in self.tracked
            ),
            None,
        )
        if slot is None or not isinstance(result, torch.Tensor) or id(result) in self.tracked:
            return
        self.records[id(result)] = (Record(func, args, kwargs, result), slot)
        self.tracked[id(result)] = result

    def chain(
        self, tensor: Any, sources: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[Op]] | None:
        """The source among `sources` that `tensor` was computed from and the ops that
        turned it into `tensor` (empty when it is a source), or None."""
        wanted = {id(s) for s in sources}
        ops: list[Op] = []
        while isinstance(tensor, torch.Tensor):
            if id(tensor) in wanted:
                return tensor, ops[::-1]
            found = self.records.get(id(tensor))
            if found is None or len(ops) > 16:
                return None
            record, slot = found
            ops.append(Op(record.func, record.args, record.kwargs, slot))
            tensor = record.args[slot]
        return None


def replay(ops: list[Op], value: Any) -> Any:
    for op in ops:
        value = op(value)
    return value
