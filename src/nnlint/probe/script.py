"""Zero-config probe: `nnlint --probe train.py [-- args]` runs an unmodified training script
in the child and captures what the probe needs from its first training step.

How the pieces are learnt, with PyTorch's public hooks and three narrow patches:

* the model: global module forward (pre-)hooks record the outermost module calls of the
  step; the model is the called module whose parameters the optimizer updates;
* the optimizer: the global optimizer step pre-hook fires at the first `optimizer.step()`;
* the loss: `torch.Tensor.backward` is patched to learn the tensor `backward()` is called
  on; the loss module call (or `torch.nn.functional` call, seen through a
  `TorchFunctionMode`) that produced it gives the loss function and the targets;
* the data: `DataLoader.__iter__` and the loader iterators' `__next__` are watched; when the
  loader's batch is `(inputs, targets)` as the model and the loss received them, the loader
  itself is the probe's data, else the script's loop runs on (backward and step turned into
  no-ops) to collect the inputs and targets of further steps.

The script is stopped by `StopScript` (a BaseException, so `except Exception` in the script
does not swallow it) raised from a hook; the model and optimizer are put back to their state
at the first step (`Snapshot`) before the checks run. `torch.save` is replaced for the whole
run and reports each write as skipped. A watchdog reports where the script was when the
budget ran out before it reached a training step.
"""

from __future__ import annotations

import ast
import contextlib
import os
import runpy
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils.data import DataLoader
from torch.utils.data.dataloader import _BaseDataLoaderIter

from nnlint.probe.checks import default_unpack, loss_kind
from nnlint.probe.state import Snapshot
from nnlint.probe.target import Bundle, TargetError, split_target

COLLECT = 8  # batches collected through the script's loop when its loader cannot be reused


class StopScript(BaseException):
    """Raised from a hook to end the user's script once the probe has what it needs."""


def is_script(spec: str) -> bool:
    """A `.py` path without `:name` whose file defines no LightningModule-like class."""
    where, name = split_target(spec)
    if name is not None or not where.endswith(".py") or not Path(where).is_file():
        return False
    try:
        tree = ast.parse(Path(where).read_text("utf-8"))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return True  # running it shows the user their own error
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            if {"training_step", "configure_optimizers"} <= methods:
                return False
    return True


@dataclass
class Call:
    """One call that may be the model or the loss: the callee, its arguments, its output."""

    callee: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    module: bool


def _user_frames(stack: list[traceback.FrameSummary]) -> list[traceback.FrameSummary]:
    own = Path(__file__).resolve().parent.parent
    torch_root = Path(torch.__file__).resolve().parent
    keep = []
    for frame in stack:
        if frame.filename.startswith("<"):
            continue
        path = Path(frame.filename).resolve()
        if path.is_relative_to(own) or path.is_relative_to(torch_root) or "runpy" in path.name:
            continue
        if "site-packages" in path.parts or "threading" in path.name:
            continue
        keep.append(frame)
    return keep


def _display(filename: str) -> str:
    try:
        return os.path.relpath(filename)
    except ValueError:
        return filename


class _Functional(TorchFunctionMode):
    """Records `torch.nn.functional` calls that return a scalar needing a gradient."""

    def __init__(self, capture: Capture) -> None:
        super().__init__()
        self.capture = capture

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if (
            getattr(func, "__module__", "") == "torch.nn.functional"
            and isinstance(result, torch.Tensor)
            and result.dim() == 0
            and result.requires_grad
        ):
            self.capture.calls.append(Call(func, tuple(args), dict(kwargs), result, False))
        return result


class Capture:
    """Hooks and patches around one run of the user's script."""

    def __init__(self, path: Path, budget: float | None, emit: Callable[[dict], None]) -> None:
        self.path = path
        self.budget = budget
        self.emit = emit
        self.calls: list[Call] = []
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
        self.batch: Any = None
        self.skipped: list[str] = []
        self.done = threading.Event()

    # -- hooks ----------------------------------------------------------------------------

    def _pre(self, module: Any, args: Any) -> None:
        self.depth += 1

    def _post(self, module: Any, args: Any, kwargs: Any, output: Any) -> None:
        self.depth = max(self.depth - 1, 0)
        if self.depth == 0:
            self.calls.append(Call(module, tuple(args), dict(kwargs or {}), output, True))
            del self.calls[:-64]

    def _backward(self, original: Callable[..., Any]) -> Callable[..., Any]:
        capture = self

        def backward(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if capture.collecting:
                capture._collect(tensor)
                return None  # no gradients while collecting batches
            if capture.bundle is None:
                capture.loss_tensor = tensor
                frames = _user_frames(traceback.extract_stack()[:-1])
                if frames:
                    capture.backward_at = (_display(frames[-1].filename), frames[-1].lineno or 1)
            return original(tensor, *args, **kwargs)

        return backward

    def _step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self.collecting:
            return
        if self.bundle is None and self.loss_tensor is not None:
            self._build(optimizer)
            if self.collecting:
                optimizer.step = lambda *a, **k: None  # the loop runs on without updates
                self.calls.clear()
                return
            raise StopScript
        self.calls.clear()

    def _save(self, obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        frames = _user_frames(traceback.extract_stack()[:-1])
        where = f"{_display(frames[-1].filename)}:{frames[-1].lineno}: " if frames else ""
        name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else type(f).__name__
        self.skipped.append(f"{where}torch.save(..., {name!r})")

    # -- what the step shows --------------------------------------------------------------

    def _build(self, optimizer: Any) -> None:
        params = {id(p) for group in optimizer.param_groups for p in group["params"]}
        model_call = None
        best = 0
        for call in self.calls:
            if not call.module:
                continue
            shared = sum(1 for p in call.callee.parameters() if id(p) in params)
            if shared > best:
                model_call, best = call, shared
        if model_call is None:
            raise TargetError(
                "the first training step called no module whose parameters the optimizer updates"
            )
        loss_call = self._loss_call(model_call)
        if loss_call is None:
            raise TargetError(
                "could not tell which loss produced the tensor backward() was called on; "
                "use a factory (train.py:make_probe) for this script"
            )
        inputs = _inputs(model_call)
        target = _target(loss_call, model_call)
        loss = _loss_function(loss_call, model_call)
        self.model_call, self.loss_call = model_call, loss_call
        self.snapshot = Snapshot(model_call.callee, optimizer)
        data: Any
        if self.loader is not None and self._loader_matches(inputs, target):
            data = self.loader
        else:
            data = self.collected
            self.collected.append((_detach(inputs), _detach(target)))
            self.collecting = True
        self.bundle = Bundle(model=model_call.callee, loss=loss, data=data, optimizer=optimizer)

    def _loss_call(self, model_call: Call) -> Call | None:
        after = self.calls[self.calls.index(model_call) + 1 :]
        for call in reversed(after):
            if call.output is self.loss_tensor:
                return call
        for call in reversed(after):  # the loss was scaled or summed: the last loss call
            if (call.module and loss_kind(call.callee)) or not call.module:
                return call
        return None

    def _loader_matches(self, inputs: Any, target: Any) -> bool:
        try:
            x, y = default_unpack(self.batch)
        except Exception:
            return False
        return _same(x, inputs) and _same(y, target)

    def _collect(self, tensor: torch.Tensor) -> None:
        model_call = next(
            (c for c in self.calls if c.module and c.callee is self.bundle.model), None
        )
        if model_call is not None:
            after = self.calls[self.calls.index(model_call) + 1 :]
            loss_call = next((c for c in reversed(after) if c.output is tensor), None)
            if loss_call is None and after:
                loss_call = after[-1]
            if loss_call is not None:
                inputs = _inputs(model_call)
                self.collected.append((_detach(inputs), _detach(_target(loss_call, model_call))))
        self.calls.clear()
        if len(self.collected) >= COLLECT:
            raise StopScript

    # -- running --------------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        from torch.nn.modules import module as nn_module  # noqa: PLC0415
        from torch.optim import optimizer as optim  # noqa: PLC0415

        capture = self
        original_backward = torch.Tensor.backward
        original_save = torch.save
        original_iter = DataLoader.__iter__
        original_next = _BaseDataLoaderIter.__next__

        def loader_iter(loader: Any) -> Any:
            capture.loader = loader
            return original_iter(loader)

        def loader_next(iterator: Any) -> Any:
            batch = original_next(iterator)
            capture.batch = batch
            return batch

        handles = [
            nn_module.register_module_forward_pre_hook(self._pre),
            nn_module.register_module_forward_hook(self._post, with_kwargs=True, always_call=True),
            optim.register_optimizer_step_pre_hook(self._step),
        ]
        torch.Tensor.backward = self._backward(original_backward)  # type: ignore[method-assign]
        torch.save = self._save  # type: ignore[assignment]
        DataLoader.__iter__ = loader_iter  # type: ignore[method-assign]
        _BaseDataLoaderIter.__next__ = loader_next  # type: ignore[method-assign]
        mode = _Functional(self)
        try:
            with mode:
                yield
        finally:
            for handle in handles:
                handle.remove()
            torch.Tensor.backward = original_backward  # type: ignore[method-assign]
            torch.save = original_save
            DataLoader.__iter__ = original_iter  # type: ignore[method-assign]
            _BaseDataLoaderIter.__next__ = original_next  # type: ignore[method-assign]

    def watchdog(self) -> None:
        """When the budget runs out before the first step: say where the script was."""
        main = threading.main_thread().ident
        if self.budget is None or self.done.wait(self.budget) or self.bundle is not None:
            return
        frame = sys._current_frames().get(main)
        frames = _user_frames(traceback.extract_stack(frame)) if frame else []
        stack = [
            {"file": _display(f.filename), "line": f.lineno, "function": f.name, "code": f.line}
            for f in frames
        ]
        self.emit({"event": "stalled", "budget": self.budget, "stack": stack})
        os._exit(3)


def run_script(
    target: str, argv: list[str], budget: float | None, emit: Callable[[dict], None]
) -> tuple[Bundle, Capture, float]:
    """Run the script until its first training step; return the bundle, the capture and the
    seconds it took. Raises TargetError when the script never reaches a training step."""
    path = Path(split_target(target)[0])
    began = time.monotonic()
    capture = Capture(path, budget, emit)
    threading.Thread(target=capture.watchdog, daemon=True).start()
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *argv]
    sys.path.insert(0, str(path.resolve().parent))
    exit_code: Any = None
    try:
        with capture.installed():
            runpy.run_path(str(path), run_name="__main__")
    except StopScript:
        pass
    except SystemExit as stop:
        exit_code = stop.code
    finally:
        capture.done.set()
        sys.argv = saved_argv
        sys.path[:] = saved_path
    if capture.bundle is None:
        how = "finished" if exit_code in (None, 0) else f"exited with code {exit_code}"
        raise TargetError(
            f"{path}: the script {how} without a training step (a backward() followed by "
            "optimizer.step()); nothing to probe"
        )
    capture.bundle.optimizer.__dict__.pop("step", None)  # the class's step again
    if capture.snapshot is not None:
        capture.snapshot.restore()
    return capture.bundle, capture, time.monotonic() - began


def _inputs(call: Call) -> Any:
    if call.kwargs and not call.args:
        return dict(call.kwargs)
    if len(call.args) == 1:
        return call.args[0]
    return tuple(call.args)


def _target(loss_call: Call, model_call: Call) -> Any:
    args = [*loss_call.args, *loss_call.kwargs.values()]
    for arg in args[1:]:
        if isinstance(arg, torch.Tensor) and not arg.requires_grad:
            return arg
    for arg in args:
        if arg is not model_call.output and isinstance(arg, torch.Tensor):
            return arg
    return None


def _loss_function(loss_call: Call, model_call: Call) -> Any:
    if loss_call.module:
        return loss_call.callee
    func, extra = loss_call.callee, loss_call.args[2:]
    kwargs = dict(loss_call.kwargs)

    def loss(out: Any, target: Any) -> Any:
        return func(out, target, *extra, **kwargs)

    loss.__name__ = getattr(func, "__name__", "loss")
    loss.reduction = kwargs.get("reduction", "mean")  # type: ignore[attr-defined]
    return loss


def _detach(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a is b:
            return True
        return a.shape == b.shape and torch.equal(a.detach().cpu(), b.detach().cpu())
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return False
