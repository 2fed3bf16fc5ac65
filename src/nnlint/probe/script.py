"""Zero-config probe: `nnlint --probe train.py [-- args]` (or `-m package.module`) runs an
unmodified training script in the child, captures what the probe needs from its first
training step, and runs the over-fit test and the LR finder through the script's own loop
(`nnlint.probe.loop`).

How the pieces are learnt, with PyTorch's public hooks and three narrow patches:

* the model: global module forward (pre-)hooks record the outermost module calls of the
  step; the model is the called module whose parameters the optimizer updates;
* the optimizer: the global optimizer step hooks fire at the first `optimizer.step()` (a
  step closure, as Lightning passes, is wrapped so the step is seen after its backward);
* the loss: `torch.Tensor.backward` is patched to learn the tensor `backward()` is called
  on; the loss module call (or `torch.nn.functional` call, seen through a
  `TorchFunctionMode`) that produced it gives the loss function and the targets;
* the data: `DataLoader.__iter__` and the loader iterators' `__next__` are watched; when a
  batch the loader yielded is `(inputs, targets)` as the model and the loss received them,
  the loader itself is the probe's data and the checks train through the script's loop;
  else the loop runs on (backward and step turned into no-ops) to collect the inputs and
  targets of further steps, and the checks train on those outside the loop.

After the first step the model and optimizer are put back to their state before it
(`Snapshot`). The script is stopped by `loop.StopScript`, raised from a hook. Writes are
intercepted for the whole run (`nnlint.probe.guards`). A watchdog reports where the script
was when the budget ran out before it reached a training step.
"""

from __future__ import annotations

import ast
import collections
import contextlib
import gc
import os
import runpy
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _BaseDataLoaderIter

from nnlint.probe import guards
from nnlint.probe.batches import TARGET_KEYS, alike, default_unpack, detach, fed_from, same, tensors
from nnlint.probe.calls import (
    Call,
    inputs_of,
    loss_function,
    model_loss,
    own_loss,
    path_to,
    target_of,
    trains,
)
from nnlint.probe.checks import Probe, loss_kind
from nnlint.probe.loop import Driver, LoopSteps, ProbeThread, StopScript
from nnlint.probe.replay import Op, Recorder
from nnlint.probe.state import Snapshot
from nnlint.probe.target import Bundle, TargetError, display, split_target, user_frames

COLLECT = 8  # batches collected through the script's loop when its loader cannot be reused
RECENT = 4  # loader batches remembered: a prefetching loop is a batch or two ahead


def is_script(spec: str) -> bool:
    """A `.py` path without `:name` that is a training script: it has an
    `if __name__ == "__main__":` block, or defines no LightningModule-like class (a file
    that only defines one is probed as a Lightning module, without a factory)."""
    where, name = split_target(spec)
    if name is not None or not where.endswith(".py") or not Path(where).is_file():
        return False
    try:
        tree = ast.parse(Path(where).read_text("utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return True  # running it shows the user their own error
    if any(_is_main_guard(node) for node in tree.body):
        return True
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            if {"training_step", "configure_optimizers"} <= methods:
                return False
    return True


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    names = [node.test.left, *node.test.comparators]
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in names) and any(
        isinstance(n, ast.Constant) and n.value == "__main__" for n in names
    )


class _Functional(TorchFunctionMode):
    """Records `torch.nn.functional` calls that return a scalar (a loss, with or without a
    gradient: a frozen model's has none), and, outside the model's forward, every call on
    a tracked tensor (`replay.Recorder`: what the step does between output and loss)."""

    def __init__(self, capture: Capture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        capture = self.capture
        if not capture._mine() or capture.bundle is not None:
            return result
        if (
            getattr(func, "__module__", "") == "torch.nn.functional"
            and isinstance(result, torch.Tensor)
            and result.dim() == 0
            and result.is_floating_point()
        ):
            capture.calls.append(Call(func, tuple(args), dict(kwargs), result, False))
        if capture.depth == 0:
            capture.recorder.see(func, tuple(args), kwargs, result)
        return result


class _Clipping:
    """Learns the script's gradient clipping (`clip_grad_norm_`, `clip_grad_value_` before
    its first step), so that the probe's own steps clip as the script's do."""

    NAMES = ("clip_grad_norm_", "clip_grad_value_")

    def __init__(self, capture: Capture) -> None:
        self.capture = capture

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from torch.nn import utils  # noqa: PLC0415
        from torch.nn.utils import clip_grad  # noqa: PLC0415

        saved = [
            (module, name, getattr(module, name))
            for module in (utils, clip_grad)
            for name in self.NAMES
        ]
        for module, name, original in saved:
            setattr(module, name, self._watch(original))
        try:
            yield
        finally:
            for module, name, original in saved:
                setattr(module, name, original)

    def _watch(self, original: Callable[..., Any]) -> Callable[..., Any]:
        capture = self.capture

        def clip(parameters: Any, *args: Any, **kwargs: Any) -> Any:
            if capture._mine() and capture.bundle is None and capture.clip is None:
                capture.clip = lambda params: original(params, *args, **kwargs)
            return original(parameters, *args, **kwargs)

        clip.__name__ = original.__name__
        return clip


class Capture:
    """Hooks and patches around one run of the user's script."""

    def __init__(
        self,
        budget: float | None,
        emit: Callable[[dict], None],
        make_probe: Callable[[Bundle, Capture], Probe],
    ) -> None:
        self.budget = budget
        self.emit = emit
        self.make_probe = make_probe
        self.calls: list[Call] = []
        self.recorder = Recorder()
        self.depth = 0
        self.loss_tensor: torch.Tensor | None = None
        self.backward_at: tuple[str, int] | None = None
        self.bundle: Bundle | None = None
        self.snapshot: Snapshot | None = None
        self.collecting = False
        self.collected: list[tuple[Any, Any]] = []
        self.model_call: Call | None = None
        self.loss_call: Call | None = None
        self.loader: Any = None
        self.recent: collections.deque[Any] = collections.deque(maxlen=RECENT)
        self.template: Any = None  # the loader's batch of the first step
        self.clip: Callable[[Any], Any] | None = None  # the script's gradient clipping
        self.driver: Driver | None = None
        self.thread: ProbeThread | None = None
        self.script_thread = threading.current_thread()
        self.done = threading.Event()

    def _mine(self) -> bool:
        """Hooks act on the script's thread only, not on the probe's own computations."""
        return threading.current_thread() is self.script_thread

    # -- hooks ----------------------------------------------------------------------------

    def _pre(self, module: Any, args: Any) -> None:
        if self._mine():
            self.depth += 1

    def _post(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        if not self._mine():
            return
        self.depth = max(self.depth - 1, 0)
        if self.depth == 0:
            self.calls.append(Call(module, tuple(args), dict(kwargs or {}), output, True))
            del self.calls[:-64]
            if self.bundle is None:
                self.recorder.track(output)

    def _backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        capture = self

        def backward(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if not capture._mine():
                return original(tensor, *args, **kwargs)
            if capture.collecting:
                capture._collect(tensor)
                return None  # no gradients while collecting batches
            if capture.driver is not None:
                capture.driver.backward(tensor)
            elif capture.bundle is None:
                capture.loss_tensor = tensor
                frames = user_frames(traceback.extract_stack()[:-1])
                if frames:
                    capture.backward_at = (display(frames[-1].filename), frames[-1].lineno or 1)
                if not tensor.requires_grad:
                    capture._no_gradient()
            return original(tensor, *args, **kwargs)

        return backward

    def _step(self, optimizer: Any, args: Any, kwargs: Any) -> Any:
        """Before an optimizer step; a closure (which runs the backward) is wrapped so the
        step is seen after it."""
        if not self._mine():
            return None
        closure = kwargs.get("closure", args[1] if len(args) > 1 else None)  # args[0]: self
        if closure is None:
            self._at_step(optimizer)
            return None

        def wrapped() -> Any:
            result = closure()
            self._at_step(optimizer)
            return result

        if "closure" in kwargs:
            return args, {**kwargs, "closure": wrapped}
        return (args[0], wrapped, *args[2:]), kwargs

    def _at_step(self, optimizer: Any) -> None:
        """A step's backward is done and its update is next."""
        if self.collecting:
            return
        if self.driver is not None:
            self.driver.before_step(optimizer)
        elif self.bundle is None and self.loss_tensor is not None:
            self._build(optimizer)
            if self.collecting:
                optimizer.step = lambda *a, **k: None  # the loop runs on without updates
            self.calls.clear()
        else:
            self.calls.clear()
            self.recorder.clear()

    def _no_gradient(self) -> None:
        """backward() on a loss without a gradient would raise in the script (a frozen
        model, a detached output): capture the step now and check it outside the loop."""
        modules = [call.callee for call in self.calls if call.module]
        optimizer = next(iter(_optimizers_of(modules)), None)
        if optimizer is not None:
            self._build(optimizer)
            raise StopScript

    def _adversary(self, model_call: Call, optimizer: Any) -> Call | None:
        """The call of another module whose output the model takes as its input and that
        another optimizer trains: a GAN's generator, feeding the discriminator."""
        inputs = list(tensors(inputs_of(model_call)))
        own = {id(p) for p in model_call.callee.parameters()}
        for call in self.calls:
            out = call.output
            if not call.module or not isinstance(out, torch.Tensor) or call is model_call:
                continue
            if any(id(p) in own for p in call.callee.parameters()):
                continue  # a part of the model
            fed = any(
                t.shape == out.shape and torch.equal(t.detach(), out.detach()) for t in inputs
            )
            if fed and any(o is not optimizer for o in _optimizers_of([call.callee])):
                return call
        return None

    def _stepped(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        """After an optimizer step: the first one hands over to the probe's thread."""
        if not self._mine() or self.collecting or self.bundle is None:
            return
        if self.driver is None:
            self._start_probe(optimizer)
        assert self.driver is not None
        self.calls.clear()
        self.driver.after_step(optimizer)

    # -- what the step shows --------------------------------------------------------------

    def _build(self, optimizer: Any) -> None:
        params = {id(p) for group in optimizer.param_groups for p in group["params"]}
        model_call = None
        best = 0
        # the last call of the module the optimizer updates most, among the calls that
        # built a graph (an evaluation under no_grad is never the training step's)
        graphed = [c for c in self.calls if c.module and trains(c)]
        for call in graphed or [c for c in self.calls if c.module]:
            shared = sum(1 for p in call.callee.parameters() if id(p) in params)
            if shared and shared >= best:
                model_call, best = call, shared
        if model_call is None:
            raise TargetError(
                "the first training step called no module whose parameters the optimizer updates"
            )
        inputs = inputs_of(model_call)
        adversary = self._adversary(model_call, optimizer)
        if adversary is not None:
            raise TargetError(
                f"the model ({type(model_call.callee).__name__}) takes the output of another "
                f"module ({type(adversary.callee).__name__}) that another optimizer trains: an "
                "adversarial or alternating set-up (a GAN?), which zero-config probing does not "
                "check; write a factory (train.py:make_probe) returning the model, loss and data "
                "to check"
            )
        unpack = None
        loss_call = self._loss_call(model_call)
        own_path = path_to(model_call.output, self.loss_tensor)
        if loss_call is not None:
            target = target_of(loss_call, model_call)
            first = loss_call.args[0] if loss_call.args else None
            path, output_ops = self._ops_to(first, model_call.output)
            source, target_ops = self._target_source(target)
            self.template = self._loader_batch(inputs, source)
            if self.template is None:
                target_ops = []  # collected targets are as the loss received them
            loss = loss_function(loss_call, path, output_ops, target_ops)
        elif own_path and isinstance(inputs, tuple):
            # `loss, out = model(x, y)`: the model computes its loss from a target argument
            index = self._target_argument(model_call)
            target, loss = inputs[index], model_loss(self._inner_loss(model_call), own_path)

            def unpack(batch: Any, count: int = len(inputs), index: int = index) -> Any:
                return tuple(batch[:count]), batch[index]

            self.template = next((b for b in reversed(self.recent) if fed_from(inputs, b)), None)
        elif isinstance(inputs, dict) and own_loss(model_call.output) is not None:
            # the model computes its loss from the labels among its inputs (Hugging Face)
            key = next((k for k in TARGET_KEYS if k in inputs), None)
            if key is None:
                raise TargetError("the model computes its own loss, from no `labels` input")
            target, loss = inputs[key], model_loss(self._inner_loss(model_call))

            def unpack(batch: Any, key: str = key) -> tuple[Any, Any]:
                return batch, batch[key]

            self.template = next((b for b in reversed(self.recent) if fed_from(inputs, b)), None)
        else:
            raise TargetError(
                "could not tell which loss produced the tensor backward() was called on; "
                "use a factory (train.py:make_probe) for this script"
            )
        self.model_call, self.loss_call = model_call, loss_call
        self.snapshot = Snapshot(model_call.callee, optimizer)
        data: Any
        if self.template is not None:
            data = self.loader
            if getattr(data, "persistent_workers", False) and data.num_workers > 0:
                data = list(self.recent)  # a second iterator would reset the script's own
        else:
            data, unpack = self.collected, None  # collected as (inputs, targets)
            self.collected.append((detach(inputs), detach(target)))
            self.collecting = True
        self.bundle = Bundle(
            model=model_call.callee,
            loss=loss,
            data=data,
            optimizer=optimizer,
            unpack=unpack,
            clip=self.clip,
        )
        self.recorder.clear()  # what the step did is read; its tensors can go

    def _loss_call(self, model_call: Call) -> Call | None:
        after = self.calls[self.calls.index(model_call) + 1 :]
        for call in reversed(after):
            if call.output is self.loss_tensor:
                return call
        for call in reversed(after):  # the loss was scaled or summed: the last loss call
            if (call.module and loss_kind(call.callee)) or not call.module:
                return call
        return None

    def _ops_to(self, tensor: Any, output: Any) -> tuple[list[Any], list[Op]]:
        """Where in the model's output the loss's input comes from (a path of indices, keys
        or attributes) and the recorded ops from there to it (`view(-1, C)`, `[:, -1]`)."""
        if tensor is None or tensor is output:
            return [], []
        found = self.recorder.chain(tensor, list(tensors(output)))
        if found is None:
            return path_to(output, tensor), []
        source, ops = found
        return ([] if source is output else path_to(output, source)), ops

    def _target_source(self, target: Any) -> tuple[Any, list[Any]]:
        """The loader batch's tensor the loss's target was computed from, and the ops."""
        sources = [t for batch in self.recent for t in tensors(batch)]
        found = self.recorder.chain(target, sources)
        return (target, []) if found is None else found

    def _target_argument(self, model_call: Call) -> int:
        """Which positional argument of a model that computes its own loss is the target:
        one its inner loss call received, else the last that needs no gradient."""
        inner = next(
            (c for c in reversed(self.calls[: self.calls.index(model_call)]) if not c.module), None
        )
        received = {id(t) for t in tensors((inner.args, inner.kwargs))} if inner else set()
        args = model_call.args
        for index, arg in enumerate(args[1:], start=1):
            if id(arg) in received:
                return index
        loose = [
            i
            for i, a in enumerate(args[1:], start=1)
            if isinstance(a, torch.Tensor) and not a.requires_grad
        ]
        if not loose:
            raise TargetError("the model computes its own loss, from no target argument")
        return loose[-1]

    def _inner_loss(self, model_call: Call) -> Any:
        """The last loss function called while the model computed its own loss."""
        before = self.calls[: self.calls.index(model_call)]
        return next((c.callee for c in reversed(before) if not c.module), None)

    def _loader_batch(self, inputs: Any, target: Any) -> Any:
        """The loader batch the step trained on, when it is `(inputs, targets, ...)` or a dict
        as the model and the loss received them; else None."""
        for batch in reversed(self.recent):
            try:
                x, y = default_unpack(batch)
            except Exception:
                continue
            if fed_from(inputs, x) and same(y, target):
                return batch
        return None

    def _collect(self, tensor: torch.Tensor) -> None:
        model_call = next(
            (
                c
                for c in reversed(self.calls)
                if c.module and c.callee is self.bundle.model and trains(c)
            ),
            None,
        )
        if model_call is not None:
            after = self.calls[self.calls.index(model_call) + 1 :]
            loss_call = next((c for c in reversed(after) if c.output is tensor), None)
            if loss_call is None and after:
                loss_call = after[-1]
            if loss_call is not None:
                inputs = inputs_of(model_call)
                self.collected.append((detach(inputs), detach(target_of(loss_call, model_call))))
        self.calls.clear()
        if len(self.collected) >= COLLECT:
            raise StopScript

    def _model_call(self) -> Call | None:
        model = self.bundle.model if self.bundle else None
        return next((c for c in reversed(self.calls) if c.module and c.callee is model), None)

    def _start_probe(self, optimizer: Any) -> None:
        """Put the model back to before the first step and start the checks' thread."""
        assert self.bundle is not None and self.snapshot is not None
        self.snapshot.restore()
        probe = self.make_probe(self.bundle, self)
        self.driver = Driver(
            self.bundle.model,
            optimizer,
            model_inputs=lambda: inputs_of(call) if (call := self._model_call()) else None,
            model_output=lambda: call.output if (call := self._model_call()) else None,
            same=fed_from,
        )
        probe.steps = LoopSteps(self.driver, probe.steps, self.template)
        self.thread = ProbeThread(probe.run, self.driver)
        self.thread.start()

    # -- running --------------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from torch.nn.modules import module as nn_module  # noqa: PLC0415
        from torch.optim import optimizer as optim  # noqa: PLC0415

        capture = self
        original_backward = torch.Tensor.backward
        original_iter = DataLoader.__iter__
        original_next = _BaseDataLoaderIter.__next__

        def loader_iter(loader: Any) -> Any:
            if capture._mine() and capture.bundle is None:
                capture.loader = loader
            return original_iter(loader)

        def loader_next(iterator: Any) -> Any:
            batch = original_next(iterator)
            if not capture._mine():
                return batch
            driver = capture.driver
            fed = driver.feed() if driver is not None else None
            if fed is not None and alike(batch, capture.template):
                return fed  # any loader of such batches: scripts make a new one each epoch
            if capture.bundle is None:
                capture.recent.append(batch)
                capture.recorder.track(batch)  # the targets' ops start from its tensors
            return batch

        clipping = _Clipping(self)
        handles = [
            nn_module.register_module_forward_pre_hook(self._pre),
            nn_module.register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
            optim.register_optimizer_step_pre_hook(self._step),
            optim.register_optimizer_step_post_hook(self._stepped),
        ]
        torch.Tensor.backward = self._backward(original_backward)  # type: ignore[method-assign]
        DataLoader.__iter__ = loader_iter  # type: ignore[method-assign]
        _BaseDataLoaderIter.__next__ = loader_next  # type: ignore[method-assign]
        mode = _Functional(self)
        try:
            with mode, guards.installed(self.emit), clipping.installed():
                yield
        finally:
            for handle in handles:
                handle.remove()
            torch.Tensor.backward = original_backward  # type: ignore[method-assign]
            DataLoader.__iter__ = original_iter  # type: ignore[method-assign]
            _BaseDataLoaderIter.__next__ = original_next  # type: ignore[method-assign]

    def watchdog(self) -> None:
        """When the budget runs out before the first step: say where the script was."""
        main = threading.main_thread().ident
        if self.budget is None or self.done.wait(self.budget) or self.bundle is not None:
            return
        frame = sys._current_frames().get(main)
        self.emit({"event": "stalled", "budget": self.budget, "stack": user_stack(frame)})
        os._exit(3)


def user_stack(frame: Any) -> list[dict[str, Any]]:
    """Where a thread is in the user's code: its user frames, outermost first."""
    frames = user_frames(traceback.extract_stack(frame)) if frame else []
    return [
        {"file": display(f.filename), "line": f.lineno, "function": f.name, "code": f.line}
        for f in frames
    ]


def run_script(
    target: str,
    argv: list[str],
    budget: float | None,
    emit: Callable[[dict], None],
    make_probe: Callable[[Bundle, Capture], Probe],
    *,
    module: bool = False,
) -> None:
    """Run the script (a file, or a module with `module=True`) until its first training
    step, then the probe's checks (`make_probe` builds the probe from what the step
    showed). Raises TargetError when the script never reaches a training step; the
    script's own exceptions before that step propagate."""
    capture = Capture(budget, emit, make_probe)
    threading.Thread(target=capture.watchdog, daemon=True).start()
    saved = sys.argv, list(sys.path), os.getcwd()
    if module:
        sys.argv = [target, *argv]
        sys.path.insert(0, os.getcwd())  # as `python -m` does
    else:
        path = Path(target).resolve()
        sys.argv = [target, *argv]
        sys.path.insert(0, str(path.parent))
        os.chdir(path.parent)  # the script runs from its own folder
    exit_code: Any = None
    raised: BaseException | None = None
    try:
        with capture.installed():
            try:
                if module:
                    runpy.run_module(target, run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(str(path), run_name="__main__")
            except StopScript:
                pass
            except SystemExit as stop:
                exit_code = stop.code
            except Exception as error:
                if capture.bundle is None:
                    raise
                raised = error  # after the first step: the checks go on outside the loop
            finally:
                capture.done.set()
                if capture.driver is not None:
                    capture.driver.end()
            if capture.thread is not None:
                capture.thread.join()
    finally:
        sys.argv, sys.path[:] = saved[0], saved[1]
        os.chdir(saved[2])
    if capture.bundle is None:
        how = "finished" if exit_code in (None, 0) else f"exited with code {exit_code}"
        raise TargetError(
            f"{target}: the script {how} without a training step (a backward() followed by "
            "optimizer.step()); nothing to probe",
            show_output=exit_code not in (None, 0),
        )
    capture.bundle.optimizer.__dict__.pop("step", None)  # the class's step again
    if capture.thread is None:  # the batches were collected: the checks run outside the loop
        if capture.snapshot is not None:
            capture.snapshot.restore()
        make_probe(capture.bundle, capture).run()
    elif capture.thread.error is not None:
        raise capture.thread.error
    if raised is not None:
        emit(
            {
                "event": "note",
                "message": f"the script raised {type(raised).__name__} while "
                "the probe trained through its loop; the rest ran outside it",
            }
        )


def _optimizers_of(modules: list[Any]) -> list[Any]:
    """The live optimizers that update parameters of any of `modules` (a scan of the
    garbage collector's objects: optimizers have no registry)."""
    owned = {id(p) for module in modules for p in module.parameters()}
    return [
        o
        for o in gc.get_objects()
        if isinstance(o, torch.optim.Optimizer)
        and any(id(p) in owned for group in o.param_groups for p in group["params"])
    ]
