"""The over-fit test and the LR finder through the user's own training loop.

Once the script's first training step is captured, the script (on the main thread) and the
probe's checks (on a second thread) take turns; they never run at once. The script parks
after each optimizer step of its own until the probe hands it an order: "train on this
batch" (the over-fit test: the batch is fed in place of the loader's), "train on your own
batches at these learning rates" (the LR finder), or "finish" (the script is stopped).
At each step of an order the script reports the loss it called `backward()` on and waits
for the probe's go-ahead; the probe puts the weights back between orders while the script
is parked. When the script ends on its own (its epochs run out, or it raises), or its loop
does not train on the batch it is fed, the remaining steps run outside its loop
(`OwnSteps`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from nnlint.probe.batches import INPUT_KEYS, TARGET_KEYS, batch_size, take
from nnlint.probe.steps import Cycle, OwnSteps, Step, all_zero

ENDED = "ended"  # the script's run is over: no more steps through its loop
UNFED = "unfed"  # the loop does not train on the batch it is fed
PREFETCHED = 2  # steps a prefetching loop may take on batches fetched before the order


class StopScript(BaseException):
    """Raised from a hook to end the user's script (a BaseException, so that the script's
    `except Exception` does not swallow it)."""


@dataclass
class Order:
    """What the script's loop runs next: steps on `batches` in turn (in the loader's own
    form; None for the loader's batches) at `lrs` (None: the optimizer's own), or
    `finish`."""

    batches: list[Any] | None = None
    lrs: list[float] | None = None
    inputs: list[Any] | None = None  # the model's inputs each fed batch gives
    finish: bool = False

    def batch(self, step: int) -> Any:
        return None if self.batches is None else self.batches[step % len(self.batches)]

    def input(self, step: int) -> Any:
        return None if self.inputs is None else self.inputs[step % len(self.inputs)]


class Driver:
    """The hand-over between the script's thread and the probe's thread."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: Any,
        model_inputs: Callable[[], Any],
        model_output: Callable[[], Any],
        same: Callable[[Any, Any], bool],
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.model_inputs = model_inputs
        self.model_output = model_output
        self.same = same
        self.orders: queue.Queue[Order] = queue.Queue()
        self.replies: queue.Queue[Any] = queue.Queue()  # Step or ENDED
        self.parked = threading.Event()  # the script waits for an order
        self.go: queue.Queue[bool] = queue.Queue()
        self.order: Order | None = None
        self.done_steps = 0
        self.unfed = 0  # steps of the order that did not train on the fed batch
        self.stopping = False
        self.ended = False
        self.loss: torch.Tensor | None = None

    # -- the script's side (called from its hooks) ------------------------------------------

    def feed(self) -> Any:
        """The batch to hand the script's loop instead of the loader's, or None."""
        order = self.order
        return None if order is None or self.stopping else order.batch(self.done_steps)

    def backward(self, tensor: torch.Tensor) -> None:
        if self.order is not None and not self.stopping:
            self.loss = tensor

    def before_step(self, optimizer: Any) -> None:
        """At the script's update, after its backward: report the step and wait for the go."""
        order, tensor, self.loss = self.order, self.loss, None
        if optimizer is not self.optimizer or order is None or self.stopping or tensor is None:
            return
        expected = order.input(self.done_steps)
        if order.batches is not None and not self.same(self.model_inputs(), expected):
            self.unfed += 1
            if self.done_steps or self.unfed > PREFETCHED:  # the loop does not take the batch
                self.stopping = True
                self.replies.put(UNFED)
            return  # else a batch the loop fetched before the order (a prefetching loader)
        if order.lrs is not None:
            lr = order.lrs[min(self.done_steps, len(order.lrs) - 1)]
            for group in optimizer.param_groups:
                group["lr"] = lr
        self.done_steps += 1
        self.replies.put(
            Step(
                float(tensor.detach().float()),
                tensor.requires_grad,
                self.model_output(),
                all_zero(self.model),
                loop=True,
            )
        )
        if not self.go.get():
            self.stopping = True

    def after_step(self, optimizer: Any) -> None:
        """After the script's update: park once its order is done, until the next one."""
        if optimizer is not self.optimizer or (self.order is not None and not self.stopping):
            return
        self.order, self.stopping, self.done_steps, self.unfed = None, False, 0, 0
        self.parked.set()
        order = self.orders.get()
        self.parked.clear()
        if order.finish:
            raise StopScript
        self.order = order

    def end(self) -> None:
        """The script's run is over (stopped, finished or raised)."""
        self.ended = True
        self.replies.put(ENDED)

    # -- the probe's side -------------------------------------------------------------------

    def wait_parked(self) -> None:
        """Block until the script waits for an order (or has ended)."""
        while not self.ended and not self.parked.wait(0.05):
            pass

    def finish(self) -> None:
        """Stop the script wherever it waits: for the go-ahead of a step, or for an order."""
        self.go.put(False)
        self.orders.put(Order(finish=True))


class LoopSteps:
    """`Probe.steps` in zero-config mode: the script's loop trains, the probe watches."""

    def __init__(self, driver: Driver, own: OwnSteps, template: Any) -> None:
        self.driver = driver
        self.own = own
        self.template = template  # the loader's batch at the first step (None: no loader)

    def run(
        self, fixed: Any, optimizer: Any, steps: int, lrs: list[float] | None = None
    ) -> Iterator[Step]:
        """As `OwnSteps.run`: `fixed` is one batch, a `Cycle` of batches taken in turn, or
        None for the loop's own batches."""
        driver = self.driver
        cycle = None if fixed is None else [*fixed.batches] if isinstance(fixed, Cycle) else [fixed]
        fed = None if cycle is None else [self.loader_form(b) for b in cycle]
        if steps <= 0:
            return
        if (
            driver.ended
            or optimizer is not driver.optimizer
            or (fed is not None and any(b is None for b in fed))
        ):
            yield from self.own.run(fixed, optimizer, steps, lrs)
            return
        driver.wait_parked()
        inputs = None if cycle is None else [b[0] for b in cycle]
        start_lrs = [group["lr"] for group in optimizer.param_groups]
        driver.orders.put(Order(batches=fed, lrs=lrs, inputs=inputs))
        done, waiting = 0, False
        try:
            while done < steps:
                reply = driver.replies.get()
                if reply in (ENDED, UNFED):
                    if reply == UNFED:
                        self.template = None  # feed no batch to this loop again
                        driver.wait_parked()  # its step is still running: never both at once
                    rest = None if lrs is None else lrs[done:]
                    if lrs is None:  # not where the script's schedule left it (a decay to 0)
                        for group, lr in zip(optimizer.param_groups, start_lrs, strict=True):
                            group["lr"] = lr
                    yield from self.own.run(fixed, optimizer, steps - done, rest)
                    return
                if not isinstance(reply, Step):
                    continue
                done, waiting = done + 1, True
                yield reply
                if done < steps:
                    waiting = False
                    driver.go.put(True)
        finally:
            if waiting:
                driver.go.put(False)
            driver.wait_parked()

    def loader_form(self, fixed: Any) -> Any:
        """The probe's `(inputs, targets)` batch in the shape the script's loader yields,
        or None when that shape is unknown."""
        template = self.template
        x, y = fixed
        size, n = batch_size(template), batch_size(x)
        if template is None or size is None or n is None:
            return None
        batch = take(template, n, size)
        if isinstance(batch, dict) and isinstance(x, dict):  # the inputs are the whole batch
            return {key: _like(value, batch.get(key)) for key, value in x.items()}
        if isinstance(batch, (list, tuple)) and isinstance(x, tuple) and len(x) == len(batch):
            return _rebuilt(batch, [_like(v, b) for v, b in zip(x, batch, strict=True)])
        if isinstance(batch, dict):
            keys = [
                next((k for k in names if k in batch), None) for names in (INPUT_KEYS, TARGET_KEYS)
            ]
            if None in keys:
                return None
            batch = dict(batch)
            for key, value in zip(keys, (x, y), strict=True):
                batch[key] = _like(value, batch[key])
            return batch
        if isinstance(batch, (list, tuple)) and len(batch) >= 2:
            return _rebuilt(batch, [_like(x, batch[0]), _like(y, batch[1]), *batch[2:]])
        return None


def _rebuilt(batch: list[Any] | tuple[Any, ...], items: list[Any]) -> Any:
    """`items` in the sequence type of `batch` (a list, a tuple or a namedtuple)."""
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*items)
    return type(batch)(items)


def _like(value: Any, model: Any) -> Any:
    """`value` on the device of `model` (the loader's tensor it replaces)."""
    if isinstance(value, torch.Tensor) and isinstance(model, torch.Tensor):
        return value.detach().to(model.device)
    return value


class ProbeThread(threading.Thread):
    """Runs the probe's checks while the script is parked; finishes the script at the end."""

    def __init__(self, run: Callable[[], Any], driver: Driver) -> None:
        super().__init__(name="nnlint-probe", daemon=True)
        self.work = run
        self.driver = driver
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.driver.wait_parked()
            self.work()
        except BaseException as error:  # reported on the main thread
            self.error = error
        finally:
            self.driver.finish()
