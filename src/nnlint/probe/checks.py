"""The runtime checks over the user's model and data (imports torch; runs in the child).

Order: data sanity, loss at init, gradient health, one-batch over-fit, LR finder. Each
check starts from the user's initial weights and optimizer state and a fixed seed; the
user's objects and the RNG states are put back at the end (`state.Snapshot`). `Probe`
holds the plumbing and the order; each family of checks is a mixin in its own module
(`data_checks`, `init_checks`, `gradient_checks`, `training_checks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nnlint.probe.batches import (
    batch_size,
    default_unpack,
    finite,
    logits_of,
    tensors,
    to_device,
)
from nnlint.probe.data_checks import DataChecks
from nnlint.probe.gradient_checks import GradientChecks
from nnlint.probe.init_checks import InitChecks
from nnlint.probe.results import CheckResult
from nnlint.probe.state import Snapshot
from nnlint.probe.steps import OwnSteps
from nnlint.probe.target import Bundle, TargetError
from nnlint.probe.training_checks import DEFAULT_LR, TrainingChecks

# Loss classes and functions by kind: what the output and the labels must look like.
LOSS_KINDS = {
    "CrossEntropyLoss": "ce",
    "cross_entropy": "ce",
    "NLLLoss": "nll",
    "nll_loss": "nll",
    "BCEWithLogitsLoss": "bce_logits",
    "binary_cross_entropy_with_logits": "bce_logits",
    "BCELoss": "bce",
    "binary_cross_entropy": "bce",
    "MSELoss": "regression",
    "mse_loss": "regression",
    "L1Loss": "regression",
    "l1_loss": "regression",
    "SmoothL1Loss": "regression",
    "smooth_l1_loss": "regression",
    "HuberLoss": "regression",
    "huber_loss": "regression",
}


CHECK_STAGES = {
    "data": "data sanity on the first batches",
    "init": "loss at initialisation",
    "gradients": "gradient health",
    "overfit": "one-batch over-fit",
    "lr-finder": "LR finder sweeps",
}


@dataclass
class Options:
    """What to run and how long: the sweep, the over-fit budget, the device and the seed."""

    device: str = "auto"
    lr_min: float = 1e-7
    lr_max: float = 10.0
    lr_steps: int = 100
    overfit_steps: int = 200
    overfit_batch: int = 16
    seed: int = 0
    budget: float | None = None  # seconds from the start; checks stop early past it


class CheckFailed(Exception):
    """A check raised while running the model and loss: says which check, and where the
    step it replays was captured (`at`: file and line of the script's backward, or the
    factory); the original exception is the cause."""

    def __init__(self, check: str, at: tuple[str, int] | None) -> None:
        super().__init__(check)
        self.check = check
        self.at = at


def pick_device(choice: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; `cuda` fails clearly without a GPU."""
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        raise TargetError("--device cuda, but torch.cuda.is_available() is False here")
    if choice == "cpu" or not available:
        return torch.device("cpu")
    return torch.device("cuda")


def configured_lr(group: dict[str, Any]) -> float:
    """The learning rate the user chose for a parameter group: the peak of a one-cycle or
    cyclic schedule (`max_lr`), the base LR of any other scheduler (`initial_lr`; a warm-up
    starts far below it), else the group's current LR."""
    for key in ("max_lr", "initial_lr", "lr"):
        if isinstance(group.get(key), (int, float)):
            return float(group[key])
    return float(group["lr"])


def loss_kind(loss: Any) -> str | None:
    name = type(loss).__name__ if isinstance(loss, nn.Module) else getattr(loss, "__name__", "")
    return LOSS_KINDS.get(name)


class Probe(DataChecks, InitChecks, GradientChecks, TrainingChecks):
    """Runs the checks in order over one bundle; `emit` receives progress events."""

    def __init__(
        self,
        bundle: Bundle,
        options: Options,
        emit: Callable[[dict], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.b = bundle
        self.o = options
        self.emit = emit or (lambda event: None)
        self.model: nn.Module = bundle.model
        self.device = pick_device(options.device)
        self.criterion = bundle.loss if bundle.loss is not None else self._lightning_criterion()
        self.kind = loss_kind(self.criterion) if self.criterion is not None else None
        self.user_unpack = bundle.unpack or default_unpack
        self.unpack = default_unpack  # batches are (inputs, targets) once data_batches has them
        self.step_only = bundle.lightning and bundle.loss is None  # the loss is training_step
        self.clock = clock  # the budget's clock (a fake one in tests)
        self.start = clock()
        self.steps: Any = OwnSteps(self)  # LoopSteps in zero-config mode
        self.step_at: tuple[str, int] | None = None  # where the replayed step is written
        self.found: set[str] = set()  # the codes the checks so far reported
        self.skip: str | None = None  # why the training checks cannot run
        self.batches: list[Any] = []
        self.classes: int | None = None
        self.vanishing = False
        self.dead_relu: dict[str, float] = {}  # share of dead units per ReLU at init
        self.configured_lr: float | None = None
        self.batchnorm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )
        if bundle.optimizer is not None:
            self.configured_lr = configured_lr(bundle.optimizer.param_groups[0])

    # -- plumbing -------------------------------------------------------------------------

    def _lightning_criterion(self) -> Any:
        return next((m for m in self.model.modules() if loss_kind(m)), None)

    def out_of_time(self) -> bool:
        return self.o.budget is not None and self.clock() - self.start > self.o.budget

    def _autocast(self) -> Any:
        if not self.b.amp:
            return nullcontext()
        dtype = getattr(torch, self.b.dtype) if self.b.dtype else None
        if dtype is None:
            dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def forward(self, x: Any) -> Any:
        with self._autocast():
            if isinstance(x, dict):
                return self.model(**x)
            if isinstance(x, (list, tuple)):
                return self.model(*x)
            return self.model(x)

    def loss_on(self, batch: Any) -> tuple[torch.Tensor, Any]:
        """The loss of a batch and the model's output (None for Lightning's step)."""
        if self.step_only:
            with self._autocast():
                result = self.model.training_step(batch, 0)
            loss = result["loss"] if isinstance(result, dict) else result
            if not isinstance(loss, torch.Tensor):
                raise TargetError("training_step returned no loss tensor")
            return loss.float(), None
        x, y = self.unpack(batch)
        out = self.forward(x)
        with self._autocast():
            loss = self.b.loss(out, y)
        if isinstance(loss, torch.Tensor) and loss.dim():
            loss = loss.mean()
        return loss.float(), out

    def seen_by_loss(self, out: Any, y: Any) -> tuple[Any, Any]:
        """The output and the target as the loss receives them: after the script's own
        ops on them (`view(-1, C)`, `y.reshape(-1)`) when they were recorded, else the
        output's logits and the target as they are."""
        view = getattr(self.b.loss, "view", None)
        return view(out, y) if view is not None else (logits_of(out), y)

    def data_batches(self) -> Iterator[Any]:
        """Batches of the user's data, on the device, starting over when it runs out."""
        while True:
            count = 0
            for batch in self.b.data:
                count += 1
                if not self.step_only:
                    batch = tuple(self.user_unpack(batch)[:2])
                if self.batchnorm and batch_size(batch) == 1:
                    continue  # reported by NN915; training on it would raise
                yield to_device(batch, self.device)
            if not count:
                raise TargetError("`data` yielded no batches")

    def optimizer(self) -> tuple[Any, str]:
        """The user's optimizer (restored to its initial state by the caller) or Adam."""
        if self.b.optimizer is not None:
            return self.b.optimizer, self._describe(self.b.optimizer)
        return self.fresh_adam(), f"Adam(lr={DEFAULT_LR:g})"

    def fresh_adam(self, lr: float = DEFAULT_LR) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=lr)

    @staticmethod
    def _describe(optimizer: Any) -> str:
        return f"{type(optimizer).__name__}(lr={optimizer.param_groups[0]['lr']:g})"

    @contextmanager
    def watch(self, relus: bool = False) -> Iterator[dict[str, Any]]:
        """Record which modules ran (in order) and, optionally, ReLU outputs."""
        seen: dict[str, Any] = {"ran": [], "relu": {}}
        handles = []
        for name, module in self.model.named_modules():

            def hook(module: nn.Module, args: Any, output: Any, name: str = name) -> None:
                if name not in seen["ran"]:
                    seen["ran"].append(name)
                if relus and isinstance(module, (nn.ReLU, nn.ReLU6)) and name not in seen["relu"]:
                    seen["relu"][name] = output.detach()

            handles.append(module.register_forward_hook(hook))
        try:
            yield seen
        finally:
            for handle in handles:
                handle.remove()

    def first_nonfinite(self, batch: Any) -> str | None:
        """The innermost module whose output is NaN/Inf while its inputs are finite."""
        found: list[str] = []
        handles = []
        for name, module in self.model.named_modules():

            def hook(module: nn.Module, args: Any, output: Any, name: str = name) -> None:
                if found:
                    return
                inputs_ok = all(finite(t) for t in tensors(args))
                if inputs_ok and not all(finite(t) for t in tensors(output)):
                    found.append(name or type(self.model).__name__)

            handles.append(module.register_forward_hook(hook))
        try:
            with torch.no_grad():
                self.loss_on(batch)
        finally:
            for handle in handles:
                handle.remove()
        return found[0] if found else None

    def module_anchor(self, name: str) -> str:
        return f"module:{name}" if name and name != type(self.model).__name__ else "model"

    # -- the run --------------------------------------------------------------------------

    def run(self) -> list[CheckResult]:
        checks: list[tuple[str, Callable[[CheckResult], None]]] = [
            ("data", self.check_data),
            ("init", self.check_init),
            ("gradients", self.check_gradients),
            ("overfit", self.check_overfit),
            ("lr-finder", self.check_lr_finder),
        ]
        snapshot = self.snapshot = Snapshot(self.model, self.b.optimizer)
        results = []
        try:
            self.model.to(self.device)
            batches = self.data_batches()
            self.batches = [next(batches)]
            for _ in range(3):
                extra = next(batches)
                if extra is self.batches[0] or len(self.batches) >= self._epoch_batches():
                    break
                self.batches.append(extra)
            for name, check in checks:
                result = CheckResult(name, "done")
                if self.out_of_time():
                    result.status, result.note = "skipped", "the time budget ran out"
                elif self.skip and name in ("gradients", "overfit", "lr-finder"):
                    result.status, result.note = "skipped", self.skip
                else:
                    self.emit({"event": "progress", "check": f"{name}: {CHECK_STAGES[name]}"})
                    torch.manual_seed(self.o.seed)
                    began = time.perf_counter()
                    try:
                        check(result)
                    except (TargetError, CheckFailed):
                        raise
                    except Exception as error:
                        raise CheckFailed(name, self.step_at) from error
                    result.seconds = round(time.perf_counter() - began, 3)
                    snapshot.restore_weights()
                results.append(result)
                self.found.update(f.code for f in result.findings)
                self.emit({"event": "check", "result": result.as_dict()})
        finally:
            snapshot.restore()
        return results

    def _epoch_batches(self) -> int:
        try:
            return len(self.b.data)  # type: ignore[arg-type]
        except TypeError:
            return 4
