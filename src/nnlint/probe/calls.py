"""What the calls recorded in a training step show: the model's inputs, the loss function
and its target, and where the loss's input sits in the model's output."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from nnlint.probe.batches import tensors
from nnlint.probe.replay import Op, replay


@dataclass(eq=False)  # calls are compared by identity, never by their tensors
class Call:
    """One call that may be the model or the loss: the callee, its arguments, its output."""

    callee: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    module: bool


def inputs_of(call: Call) -> Any:
    if call.kwargs and not call.args:
        return dict(call.kwargs)
    if len(call.args) == 1:
        return call.args[0]
    return tuple(call.args)


def trains(call: Call) -> bool:
    """The call built a graph: some tensor of its output needs a gradient (an evaluation
    under `no_grad` builds none)."""
    return any(t.requires_grad for t in tensors(call.output))


def own_loss(output: Any) -> Any:
    """The loss a model returned with its output (`output.loss` or `output["loss"]`)."""
    loss = output.get("loss") if isinstance(output, dict) else getattr(output, "loss", None)
    return loss if isinstance(loss, torch.Tensor) and loss.requires_grad else None


def model_loss(inner: Any, path: Sequence[Any] = ()) -> Callable[[Any, Any], Any]:
    """The loss function for a model that computes its own: the loss in its output (at
    `path`, as `out[0]` of `loss, out = model(x, y)`, else `out.loss` or `out["loss"]`),
    named after the loss it called inside (so the checks know its kind)."""

    def loss(out: Any, target: Any) -> Any:
        if path:
            return follow(out, list(path))
        return own_loss(out) if own_loss(out) is not None else out["loss"]

    loss.__name__ = getattr(inner, "__name__", "model_loss")
    loss.own = True  # type: ignore[attr-defined]
    return loss


def target_of(loss_call: Call, model_call: Call) -> Any:
    args = [*loss_call.args, *loss_call.kwargs.values()]
    for arg in args[1:]:
        if isinstance(arg, torch.Tensor) and not arg.requires_grad:
            return arg
    for arg in args:
        if arg is not model_call.output and isinstance(arg, torch.Tensor):
            return arg
    return None


def loss_function(
    loss_call: Call, path: list[Any], output_ops: list[Op], target_ops: list[Op]
) -> Any:
    """The captured loss as `loss(model_output, target)`: the loss module or function (with
    the call's other arguments), given the part of the model's output the script gave it
    (`out[0]` of a model that returns a tuple, `out["logits"]`, `out.logits`) after the
    script's own ops on it and on the target (`view(-1, C)`, `y.reshape(-1)`). Its
    `view(out, target)` gives both as the loss receives them."""
    if loss_call.module and not path and not output_ops and not target_ops:
        return loss_call.callee
    callee = loss_call.callee
    extra = () if loss_call.module else loss_call.args[2:]
    kwargs = {} if loss_call.module else dict(loss_call.kwargs)

    def view(out: Any, target: Any) -> tuple[Any, Any]:
        return replay(output_ops, follow(out, path)), replay(target_ops, target)

    def loss(out: Any, target: Any) -> Any:
        return callee(*view(out, target), *extra, **kwargs)

    loss.__name__ = type(callee).__name__ if loss_call.module else callee.__name__
    reduction = getattr(callee, "reduction", kwargs.get("reduction", "mean"))
    loss.reduction = reduction  # type: ignore[attr-defined]
    loss.view = view  # type: ignore[attr-defined]
    loss.steps = [op.describe() for op in output_ops]  # type: ignore[attr-defined]
    return loss


def path_to(output: Any, tensor: Any, depth: int = 2) -> list[Any]:
    """Where `tensor` sits inside a model's output (indices, keys, attribute names); empty
    when it is the output itself or is not found in it."""
    if tensor is None or output is tensor or depth == 0:
        return []
    if isinstance(output, (list, tuple)):
        items: list[tuple[Any, Any]] = list(enumerate(output))
    elif isinstance(output, dict):
        items = list(output.items())
    else:
        items = (
            [(f".{k}", v) for k, v in vars(output).items()] if hasattr(output, "__dict__") else []
        )
    for key, value in items:
        if value is tensor:
            return [key]
        if not isinstance(value, torch.Tensor) and (deeper := path_to(value, tensor, depth - 1)):
            return [key, *deeper]
    return []


def follow(output: Any, path: list[Any]) -> Any:
    for key in path:
        if isinstance(key, str) and key.startswith("."):
            output = getattr(output, key[1:])
        else:
            output = output[key]
    return output
