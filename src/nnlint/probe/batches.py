"""Batches of any shape: move them, slice them, find their inputs and targets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from nnlint.probe.target import TargetError


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], Any]) -> Any:
    """`obj` with `fn` applied to each tensor in it (through dicts, lists, tuples and
    namedtuples); anything else is kept."""
    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(map_tensors(v, fn) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(map_tensors(v, fn) for v in obj)
    return obj


def to_device(obj: Any, device: torch.device) -> Any:
    return map_tensors(obj, lambda t: t.to(device))


def batch_size(obj: Any) -> int | None:
    if isinstance(obj, torch.Tensor):
        return obj.shape[0] if obj.dim() else None
    values = (
        obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
    )
    return next((n for n in map(batch_size, values) if n is not None), None)


def take(obj: Any, n: int, size: int) -> Any:
    """The first `n` samples of a batch: tensors whose first dimension is the batch's."""
    return map_tensors(obj, lambda t: t[:n] if t.dim() and t.shape[0] == size else t)


INPUT_KEYS = ("x", "input", "inputs", "features", "image", "images", "input_ids", "data")
TARGET_KEYS = ("y", "target", "targets", "label", "labels")


def default_unpack(batch: Any) -> tuple[Any, Any]:
    """`(x, y, *rest)` or a dict with an input key and a target key."""
    if isinstance(batch, dict):
        x = next((k for k in INPUT_KEYS if k in batch), None)
        y = next((k for k in TARGET_KEYS if k in batch), None)
        if x is None or y is None:
            raise TargetError(
                f"cannot find inputs and targets in a batch with keys {sorted(batch)}; add "
                "`unpack` (a function from a batch to (inputs, targets)) to the factory's dict"
            )
        return batch[x], batch[y]
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TargetError(
        f"a batch is a {type(batch).__name__}, not (inputs, targets, ...) or a dict; add "
        "`unpack` (a function from a batch to (inputs, targets)) to the factory's dict"
    )


def logits_of(out: Any) -> torch.Tensor | None:
    """The tensor a loss sees: the output itself, its `.logits` (or `["logits"]`), or its
    first element that is not a scalar (`loss, logits = model(x, y)` puts the loss first)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    if hasattr(out, "logits") and isinstance(out.logits, torch.Tensor):
        return out.logits
    if isinstance(out, (list, tuple)):
        return next((t for t in out if isinstance(t, torch.Tensor) and t.dim()), None)
    return None


def finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all()) if t.is_floating_point() else True


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors(v)


def is_tensor(obj: Any) -> bool:
    return isinstance(obj, torch.Tensor)


def zeroed(x: Any) -> Any:
    return map_tensors(x, lambda t: torch.zeros_like(t) if t.is_floating_point() else t)


def detach(value: Any) -> Any:
    return map_tensors(value, torch.Tensor.detach)


def fed_from(seen: Any, fed: Any) -> bool:
    """The model's inputs `seen` came from `fed`: equal, or for dicts, every item of `fed`
    is among them (a trainer may add arguments, as `num_items_in_batch`); a model called
    with one keyword argument (`model(features=x)`) received `x`."""
    if isinstance(seen, dict) and isinstance(fed, dict):
        return all(key in seen and same(seen[key], value) for key, value in fed.items())
    if isinstance(seen, dict) and len(seen) == 1:
        seen = next(iter(seen.values()))
    return same(seen, fed)


def alike(batch: Any, template: Any) -> bool:
    """Batches of the same structure whose tensors differ at most in the batch dimension."""
    if isinstance(batch, torch.Tensor) and isinstance(template, torch.Tensor):
        return batch.dtype == template.dtype and batch.shape[1:] == template.shape[1:]
    if isinstance(batch, dict) and isinstance(template, dict):
        return batch.keys() == template.keys() and all(alike(batch[k], template[k]) for k in batch)
    if isinstance(batch, (list, tuple)) and isinstance(template, (list, tuple)):
        return len(batch) == len(template) and all(
            alike(a, b) for a, b in zip(batch, template, strict=True)
        )
    return type(batch) is type(template) and not isinstance(batch, torch.Tensor)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a is b:
            return True
        return a.shape == b.shape and torch.equal(a.detach().cpu(), b.detach().cpu())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return False
