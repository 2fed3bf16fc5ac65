"""The runtime checks over the user's model and data (imports torch; runs in the child).

Order: data sanity, loss at init, gradient health, one-batch over-fit, LR finder. Each
check starts from the user's initial weights and optimizer state and a fixed seed; the
user's objects and the RNG states are put back at the end (`state.Snapshot`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nnlint.probe import lrfind
from nnlint.probe.state import Snapshot
from nnlint.probe.steps import OwnSteps
from nnlint.probe.target import Bundle, TargetError

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
DEFAULT_LR = 1e-3  # Adam's when the factory gives no optimizer (3e-4 needs ~400 steps to
# memorise 16 samples of an easy task, 1e-3 about 130: it fits the over-fit budget)
OVERFIT_TARGET = 0.05  # pass when the loss falls to 5% of its start
INIT_BAND = (0.5, 1.5)  # initial loss within these multiples of the expected value
VANISHING, EXPLODING = 1e-4, 1e4  # first/last layer relative-gradient ratio
DEAD_FRACTION = 0.5  # share of a ReLU layer's units that never fire on the batch
UPDATE_HIGH, UPDATE_LOW = 0.3, 1e-5  # median |update| / |weight| after one step
RAW_SCALE = 10.0  # a feature mean or std above this is not normalised


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


@dataclass
class Found:
    """A finding before it has a file and line: `anchor` says where it belongs ("model",
    "factory", "data", or "module:<qualified name>")."""

    code: str
    message: str
    help: str
    anchor: str = "model"


@dataclass
class CheckResult:
    name: str
    status: str  # done, partial (ran out of time), skipped
    seconds: float = 0.0
    findings: list[Found] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pick_device(choice: str) -> torch.device:
    """`auto`: CUDA when available, else CPU; `cuda` fails clearly without a GPU."""
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        raise TargetError("--device cuda, but torch.cuda.is_available() is False here")
    if choice == "cpu" or not available:
        return torch.device("cpu")
    return torch.device("cuda")


def loss_kind(loss: Any) -> str | None:
    name = type(loss).__name__ if isinstance(loss, nn.Module) else getattr(loss, "__name__", "")
    return LOSS_KINDS.get(name)


def to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def batch_size(obj: Any) -> int | None:
    if isinstance(obj, torch.Tensor):
        return obj.shape[0] if obj.dim() else None
    values = (
        obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
    )
    return next((n for n in map(batch_size, values) if n is not None), None)


def take(obj: Any, n: int, size: int) -> Any:
    """The first `n` samples of a batch: tensors whose first dimension is the batch's."""
    if isinstance(obj, torch.Tensor):
        return obj[:n] if obj.dim() and obj.shape[0] == size else obj
    if isinstance(obj, dict):
        return {k: take(v, n, size) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(take(v, n, size) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(take(v, n, size) for v in obj)
    return obj


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
    """The tensor a loss sees: the output itself, its `.logits`, or its first element."""
    if isinstance(out, torch.Tensor):
        return out
    if hasattr(out, "logits") and isinstance(out.logits, torch.Tensor):
        return out.logits
    if isinstance(out, (list, tuple)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(t).all()) if t.is_floating_point() else True


def _tensors(obj: Any) -> Iterator[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _tensors(v)


def _fmt(value: float) -> str:
    return f"{value:.3g}"


class Probe:
    """Runs the checks in order over one bundle; `emit` receives progress events."""

    def __init__(
        self, bundle: Bundle, options: Options, emit: Callable[[dict], None] | None = None
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
        self.start = time.monotonic()
        self.steps: Any = OwnSteps(self)  # LoopSteps in zero-config mode
        self.skip: str | None = None  # why the training checks cannot run
        self.batches: list[Any] = []
        self.classes: int | None = None
        self.vanishing = False
        self.configured_lr: float | None = None
        self.batchnorm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )
        if bundle.optimizer is not None:
            self.configured_lr = float(bundle.optimizer.param_groups[0]["lr"])

    # -- plumbing -------------------------------------------------------------------------

    def _lightning_criterion(self) -> Any:
        return next((m for m in self.model.modules() if loss_kind(m)), None)

    def out_of_time(self) -> bool:
        return self.o.budget is not None and time.monotonic() - self.start > self.o.budget

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

    def fresh_adam(self) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=DEFAULT_LR)

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
                inputs_ok = all(finite(t) for t in _tensors(args))
                if inputs_ok and not all(finite(t) for t in _tensors(output)):
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
                    torch.manual_seed(self.o.seed)
                    began = time.perf_counter()
                    check(result)
                    result.seconds = round(time.perf_counter() - began, 3)
                    snapshot.restore_weights()
                results.append(result)
                self.emit({"event": "check", "result": result.as_dict()})
        finally:
            snapshot.restore()
        return results

    def _epoch_batches(self) -> int:
        try:
            return len(self.b.data)  # type: ignore[arg-type]
        except TypeError:
            return 4

    # -- 5. data sanity -------------------------------------------------------------------

    def check_data(self, result: CheckResult) -> None:
        self._batchnorm_of_one(result)
        if self.b.lightning and self.b.unpack is None:
            try:
                xs = [self.unpack(b)[0] for b in self.batches]
            except TargetError:
                result.note = "batches have no recognisable inputs"
                return
        else:
            xs = [self.unpack(b)[0] for b in self.batches]
        first = xs[0]
        names = (
            list(first)
            if isinstance(first, dict)
            else ["inputs"]
            if _is_t(first)
            else list(range(len(first)))
        )
        stats = {}
        for key in names:
            parts = [x[key] if not _is_t(x) else x for x in xs]
            if not all(_is_t(p) for p in parts):
                continue
            label = "inputs" if key == "inputs" else f"inputs[{key!r}]"
            stats[label] = self._input_stats(label, parts, result)
        result.metrics["inputs"] = stats
        result.metrics["batch_size"] = batch_size(self.batches[0])

    def _first_layer(self) -> nn.Module | None:
        return next((m for m in self.model.modules() if list(m.parameters(recurse=False))), None)

    def _input_stats(
        self, label: str, parts: list[torch.Tensor], result: CheckResult
    ) -> dict[str, Any]:
        t = torch.cat([p.detach().cpu() for p in parts if p.shape[1:] == parts[0].shape[1:]])
        info: dict[str, Any] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)}
        if isinstance(self._first_layer(), nn.Embedding) and not t.is_floating_point():
            info["note"] = "token ids (the first layer is an Embedding)"
            return info
        if t.is_floating_point() and not finite(t):
            bad = int((~torch.isfinite(t)).sum())
            result.findings.append(
                Found(
                    "NN912",
                    f"{label} hold {bad} NaN/Inf values in the first batches",
                    "find where they come from (missing values, a division by zero, a log of 0) "
                    "and impute or drop them before training",
                    "data",
                )
            )
            t = torch.nan_to_num(t, nan=0.0, posinf=0.0, neginf=0.0)
        f = t.double()
        if f.dim() < 2 or f.shape[0] < 2:
            return info
        dim = (
            1
            if f.dim() >= 4 or (f.dim() == 3 and isinstance(self._first_layer(), nn.Conv1d))
            else -1
        )
        moved = f.movedim(dim, -1).reshape(-1, f.shape[dim])
        mean, std = moved.mean(0), moved.std(0)
        low, high = moved.min(0).values, moved.max(0).values
        info.update(
            features=moved.shape[1],
            mean=[round(v, 4) for v in mean[:64].tolist()],
            std=[round(v, 4) for v in std[:64].tolist()],
            min=[round(v, 4) for v in low[:64].tolist()],
            max=[round(v, 4) for v in high[:64].tolist()],
        )
        top = max(float(mean.abs().max()), float(std.max()))
        if top > RAW_SCALE:
            lo, hi = float(low.min()), float(high.max())
            integral = bool((f == f.round()).all())
            if lo >= 0 and hi <= 255 and integral:
                what = (
                    f"look like raw 0..255 pixel values ({t.dtype}, min {_fmt(lo)}, max "
                    f"{_fmt(hi)}, mean {_fmt(float(f.mean()))})"
                )
                fix = (
                    "divide by 255 and standardise with the training set's mean and std (e.g. "
                    "transforms.Normalize)"
                )
            else:
                what = (
                    f"are not normalised (feature means up to {_fmt(float(mean.abs().max()))}, "
                    f"stds up to {_fmt(float(std.max()))})"
                )
                fix = (
                    "standardise each feature with the training set's mean and std "
                    "(StandardScaler or a Normalize transform)"
                )
            result.findings.append(Found("NN911", f"{label} {what}", fix, "data"))
        constant = [i for i, s in enumerate(std.tolist()) if s == 0]
        if constant and moved.shape[0] >= 8 and moved.shape[1] > 1:
            shown = ", ".join(map(str, constant[:5])) + (" ..." if len(constant) > 5 else "")
            result.findings.append(
                Found(
                    "NN913",
                    f"{len(constant)} of {moved.shape[1]} {label} features are constant over "
                    f"{moved.shape[0]} samples (index {shown})",
                    "drop them or check the data pipeline that fills them",
                    "data",
                )
            )
        return info

    def _batchnorm_of_one(self, result: CheckResult) -> None:
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        sizes = [batch_size(b) for b in self.batches]
        size = getattr(self.b.data, "batch_size", None)
        dataset = getattr(self.b.data, "dataset", None)
        last = None
        if size and dataset is not None and not getattr(self.b.data, "drop_last", True):
            try:
                last = len(dataset) % size
            except TypeError:
                last = None
        if 1 in sizes or last == 1:
            where = (
                "a batch of the data has 1 sample"
                if 1 in sizes
                else (
                    f"the last batch of each epoch has 1 sample ({len(dataset)} samples, "
                    f"batch_size={size})"
                )
            )
            result.findings.append(
                Found(
                    "NN915",
                    (
                        f"the model has BatchNorm and {where}: training fails or its statistics "
                        f"are garbage"
                    ),
                    (
                        "pass drop_last=True to the DataLoader, or use a batch size that leaves "
                        "no single sample"
                    ),
                    "data",
                )
            )

    # -- 1. loss at init ------------------------------------------------------------------

    def check_init(self, result: CheckResult) -> None:
        batch = self.batches[0]
        self.model.train()
        with torch.no_grad():
            out = None
            if not self.step_only or self.criterion is not None:
                x, y = self.unpack(batch)
                out = self.forward(x)
                if not self._labels_ok(logits_of(out), y, result):
                    self.skip = "the labels are out of range for the loss"
                    return
                self._constrained_outputs(logits_of(out), result)
            loss, _ = self.loss_on(batch)
        value = float(loss.detach())
        result.metrics["loss"] = value
        if not math.isfinite(value):
            module = self.first_nonfinite(batch)
            where = f"; the first non-finite output comes from `{module}`" if module else ""
            result.findings.append(
                Found(
                    "NN905",
                    f"the loss at initialisation is {value}{where}",
                    "guard the operation that produces it (log/sqrt/division of values that "
                    "can be 0 "
                    "or negative; add an epsilon or clamp)",
                    self.module_anchor(module or ""),
                )
            )
            self.skip = "the loss is NaN/Inf at initialisation"
            return
        size = batch_size(batch) or 1
        summed = self._summed_reduction(batch, value, size, result)
        expected, what = self._expected_loss(logits_of(out))
        if expected is None:
            return
        scale = size if summed else 1
        ratio = value / (expected * scale)
        result.metrics.update(expected=expected * scale, ratio=ratio)
        if not INIT_BAND[0] <= ratio <= INIT_BAND[1]:
            result.findings.append(
                Found(
                    "NN901",
                    f"the loss at initialisation is {_fmt(value)}, {_fmt(ratio)}x the "
                    f"{_fmt(expected * scale)} expected for {what}",
                    "initialise the output layer so it starts uncertain (small weights, zero or "
                    "prior bias) and check the targets match the loss",
                    "model",
                )
            )

    def _expected_loss(self, out: torch.Tensor | None) -> tuple[float | None, str]:
        if self.kind in ("ce", "nll") and out is not None and out.dim() >= 2 and out.shape[1] > 1:
            classes = out.shape[1]
            return math.log(classes), f"{classes} balanced classes (ln {classes})"
        if self.kind in ("bce", "bce_logits"):
            return math.log(2), "balanced binary targets (ln 2)"
        return None, ""

    def _summed_reduction(self, batch: Any, value: float, size: int, result: CheckResult) -> bool:
        reduction = getattr(self.criterion, "reduction", None)
        summed = reduction == "sum"
        if reduction is None and size >= 4 and value > 0:
            with torch.no_grad():
                half, _ = self.loss_on(take(batch, size // 2, size))
            summed = float(half) > 0 and value / float(half) > 1.6
        result.metrics["reduction"] = "sum" if summed else reduction or "mean"
        if summed:
            result.findings.append(
                Found(
                    "NN902",
                    f"the loss is summed over the batch, not averaged ({_fmt(value)} for "
                    f"{size} samples)",
                    "use reduction='mean' (the default); a sum scales the gradients, and so the "
                    "effective learning rate, with the batch size",
                    "factory",
                )
            )
        return summed

    def _labels_ok(self, out: torch.Tensor | None, y: Any, result: CheckResult) -> bool:
        if not isinstance(y, torch.Tensor) or out is None:
            return True
        if self.kind in ("ce", "nll") and out.dim() >= 2 and not y.is_floating_point():
            classes = out.shape[1]
            self.classes = classes
            ignore = getattr(self.criterion, "ignore_index", -100)
            valid = y[y != ignore]
            if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= classes):
                result.findings.append(
                    Found(
                        "NN914",
                        f"labels run from {int(valid.min())} to {int(valid.max())} but the model "
                        f"has {classes} outputs (classes 0..{classes - 1})",
                        "make the labels 0-based class indices, or give the output layer one unit "
                        "per class",
                        "data",
                    )
                )
                return False
        elif self.kind in ("bce", "bce_logits") or (self.kind == "ce" and y.is_floating_point()):
            yf = y.float()
            if yf.numel() and (float(yf.min()) < 0 or float(yf.max()) > 1):
                result.findings.append(
                    Found(
                        "NN914",
                        f"targets run from {_fmt(float(yf.min()))} to {_fmt(float(yf.max()))}, "
                        "outside the [0, 1] the loss expects",
                        "map the targets to 0/1 (or probabilities) before the loss",
                        "data",
                    )
                )
                return False
        return True

    def _constrained_outputs(self, out: torch.Tensor | None, result: CheckResult) -> None:
        if out is None or not out.is_floating_point() or out.numel() < 4:
            return
        out = out.float()
        low, high = float(out.min()), float(out.max())
        zeros = float((out == 0).float().mean())
        result.metrics["output"] = {"min": low, "max": high, "zeros": zeros}
        message = help_ = ""
        rows_sum_to_one = out.dim() >= 2 and torch.allclose(out.sum(1), torch.ones(()), atol=1e-3)
        if self.kind == "ce" and low >= 0 and high <= 1 and rows_sum_to_one:
            message = (
                "the model outputs probabilities (rows sum to 1): a softmax feeds "
                "CrossEntropyLoss, which applies log-softmax itself"
            )
            help_ = "return raw logits from the model; apply softmax only for predictions"
        if not message and self.kind in ("ce", "bce_logits") and low >= 0 and zeros >= 0.1:
            message = (
                f"the logits are never negative and {zeros:.0%} are exactly 0: a ReLU is applied "
                f"to the output"
            )
            help_ = "remove the activation after the last layer; logits must be free to go negative"
        if not message and self.kind == "bce_logits" and low > 0 and high < 1:
            message = (
                "the outputs all lie in (0, 1): a sigmoid feeds BCEWithLogitsLoss, which applies "
                "one itself"
            )
            help_ = "return raw logits, or use BCELoss on the sigmoid"
        if not message and self.kind == "nll" and high > 0:
            message = (
                "NLLLoss receives positive values, so not log-probabilities: the model returns "
                "raw logits"
            )
            help_ = "end the model with log_softmax, or use CrossEntropyLoss on the logits"
        if message:
            result.findings.append(Found("NN917", message, help_, "model"))

    # -- 4. gradient health ---------------------------------------------------------------

    def check_gradients(self, result: CheckResult) -> None:
        batch = self.batches[0]
        self.model.train()
        self.model.zero_grad(set_to_none=True)
        with self.watch(relus=True) as seen:
            loss, _ = self.loss_on(batch)
        params = dict(self.model.named_parameters())
        trainable = {n: p for n, p in params.items() if p.requires_grad}
        result.metrics["parameters"] = {"total": len(params), "trainable": len(trainable)}
        if not loss.requires_grad:
            if not trainable:
                message = f"all {len(params)} parameter tensors are frozen (requires_grad=False)"
                help_ = (
                    "unfreeze the layers you mean to train (requires_grad_(True)) before building "
                    "the optimizer"
                )
            else:
                message = (
                    "the loss does not depend on any trainable parameter: the model's output is "
                    "detached from the graph (`.detach()`, `.item()`, `.data` or "
                    "`torch.no_grad()` in forward)"
                )
                help_ = "compute the output with autograd enabled and without detaching it"
            result.findings.append(Found("NN904", message, help_, "model"))
            self.skip = "no gradient reaches the parameters"
            return
        loss.backward()
        self._missing_gradients(trainable, seen["ran"], result)
        self._nonfinite_gradients(trainable, batch, result)
        self._gradient_flow(seen["ran"], result)
        self._dead_relus(seen["relu"], result)
        self._update_ratio(result)

    def _missing_gradients(
        self, trainable: dict[str, nn.Parameter], ran: list[str], result: CheckResult
    ) -> None:
        missing: dict[str, list[str]] = {}
        for name, p in trainable.items():
            if p.grad is None:
                missing.setdefault(name.rpartition(".")[0], []).append(name)
        zero = [n for n, p in trainable.items() if p.grad is not None and not p.grad.any()]
        result.metrics["no_gradient"] = sorted(n for names in missing.values() for n in names)
        result.metrics["zero_gradient"] = zero
        for module, names in missing.items():
            label = f"`{module}`" if module else "the model's own parameters"
            if module not in ran:
                message = (
                    f"layer {label} is defined but never called in forward: {len(names)} parameter "
                    f"tensor(s) get no gradient"
                )
                help_ = (
                    "call it in forward, or delete it (it still costs memory and optimizer state)"
                )
            else:
                message = (
                    f"layer {label} runs but its output never reaches the loss (detached or "
                    f"discarded): {len(names)} parameter tensor(s) get no gradient"
                )
                help_ = (
                    "use its output without .detach()/torch.no_grad(), or freeze it on purpose "
                    "with requires_grad_(False)"
                )
            result.findings.append(Found("NN904", message, help_, self.module_anchor(module)))

    def _nonfinite_gradients(
        self, trainable: dict[str, nn.Parameter], batch: Any, result: CheckResult
    ) -> None:
        bad = [n for n, p in trainable.items() if p.grad is not None and not finite(p.grad)]
        if bad:
            result.findings.append(
                Found(
                    "NN905",
                    f"NaN/Inf gradients in {len(bad)} parameter tensor(s), first `{bad[0]}`",
                    "guard the operation whose derivative blows up (sqrt or log near 0, "
                    "division by "
                    "a small value); clip gradients",
                    self.module_anchor(bad[0].rpartition(".")[0]),
                )
            )

    def _gradient_flow(self, ran: list[str], result: CheckResult) -> None:
        layers = []
        for name in ran:
            module = self.model.get_submodule(name) if name else self.model
            weight = getattr(module, "weight", None)
            if (
                isinstance(weight, nn.Parameter)
                and weight.dim() >= 2
                and weight.grad is not None
                and not isinstance(module, nn.Embedding)
            ):
                w = float(weight.detach().float().pow(2).mean().sqrt()) or 1e-12
                g = float(weight.grad.detach().float().pow(2).mean().sqrt())
                layers.append((name, g / w))
        result.metrics["relative_gradient"] = dict(layers)
        if len(layers) < 3 or not all(math.isfinite(v) for _, v in layers):
            return
        # the median over the first half of the layers run: one layer with a naturally small
        # gradient (an attention query or key at init) is no sign of vanishing
        half = sorted(layers[: max(1, len(layers) // 2)], key=lambda layer: layer[1])
        g_middle = half[len(half) // 2][1]
        last, g_last = layers[-1]
        if g_last <= 0:
            return
        ratio = g_middle / g_last
        result.metrics["first_last_ratio"] = ratio
        if ratio < VANISHING:
            self.vanishing = True
            result.findings.append(
                Found(
                    "NN907",
                    f"gradients vanish with depth: the first {len(half)} layer(s) get a median "
                    f"{_fmt(ratio)}x the relative gradient of the last layer `{last}`",
                    "use ReLU/GELU instead of sigmoid/tanh in hidden layers, add normalisation or "
                    "residual connections, and check the initialisation",
                    self.module_anchor(layers[0][0]),
                )
            )
        elif ratio > EXPLODING:
            result.findings.append(
                Found(
                    "NN907",
                    f"gradients explode with depth: the first {len(half)} layer(s) get a median "
                    f"{_fmt(ratio)}x the relative gradient of the last layer `{last}`",
                    "add normalisation or residual connections, lower the initial weight scale, "
                    "and clip gradients",
                    self.module_anchor(layers[0][0]),
                )
            )

    def _dead_relus(self, outputs: dict[str, torch.Tensor], result: CheckResult) -> None:
        dead_by_layer = {}
        for name, out in outputs.items():
            if out.dim() < 2 or out.shape[0] < 8:
                continue
            units = out.movedim(1 if out.dim() >= 3 else -1, 0).reshape(
                out.shape[1 if out.dim() >= 3 else -1], -1
            )
            if units.shape[0] < 4:
                continue
            fraction = float((units == 0).all(1).float().mean())
            dead_by_layer[name] = fraction
            if fraction > DEAD_FRACTION:
                result.findings.append(
                    Found(
                        "NN908",
                        f"{fraction:.0%} of the units of ReLU `{name}` output 0 for every "
                        f"sample of "
                        "the batch (dead units)",
                        "normalise the inputs, use He/Kaiming initialisation or a lower learning "
                        "rate, or try LeakyReLU/GELU",
                        self.module_anchor(name),
                    )
                )
        result.metrics["dead_relu"] = dead_by_layer

    def _update_ratio(self, result: CheckResult) -> None:
        if self.b.optimizer is None:
            return
        weights = {
            n: p.detach().clone()
            for n, p in self.model.named_parameters()
            if p.requires_grad and p.grad is not None and p.dim() >= 2
        }
        self.b.optimizer.step()
        ratios = []
        for name, p in self.model.named_parameters():
            if name in weights:
                before = weights[name]
                norm = float(before.float().norm()) or 1e-12
                ratios.append(float((p.detach() - before).float().norm()) / norm)
        if not ratios:
            return
        ratios.sort()
        median = ratios[len(ratios) // 2]
        result.metrics["update_ratio"] = median
        lr = self._describe(self.b.optimizer)
        if not math.isfinite(median) or median > UPDATE_HIGH:
            result.findings.append(
                Found(
                    "NN909",
                    f"one step of {lr} changes the weights by {_fmt(median)}x their norm (median "
                    "over layers); around 1e-3 is typical",
                    "lower the learning rate (see the LR finder's suggestion)",
                    "factory",
                )
            )
        elif median < UPDATE_LOW:
            result.findings.append(
                Found(
                    "NN909",
                    f"one step of {lr} changes the weights by only {_fmt(median)}x their norm "
                    "(median over layers); around 1e-3 is typical",
                    "raise the learning rate (see the LR finder's suggestion)",
                    "factory",
                )
            )

    # -- 2. one-batch over-fit ------------------------------------------------------------

    def check_overfit(self, result: CheckResult) -> None:
        first = self.batches[0]
        size = batch_size(first) or 1
        n = max(2, min(self.o.overfit_batch, size))
        batch = take(first, n, size)
        result.metrics["samples"] = min(n, size)
        optimizer, described = self.optimizer()
        trace = self._fit(batch, optimizer, result)
        result.metrics["run"] = {"optimizer": described, **trace.summary()}
        passed, user_optimizer = trace.passed, self.b.optimizer is not None
        if not trace.passed and user_optimizer and not self.out_of_time():
            self.snapshot.restore_weights()
            reference = self._fit(batch, self.fresh_adam(), result)
            result.metrics["reference_run"] = {
                "optimizer": f"Adam(lr={DEFAULT_LR:g})",
                **reference.summary(),
            }
            if reference.passed:
                result.findings.append(
                    Found(
                        "NN906",
                        f"{described} cannot over-fit one batch of {n} samples in "
                        f"{len(trace.losses)} steps ({trace.diagnosis()}), while "
                        f"Adam(lr={DEFAULT_LR:g}) "
                        f"does in {len(reference.losses)}",
                        "tune the learning rate (see the LR finder's suggestion) or the optimizer",
                        "factory",
                    )
                )
                passed, trace, user_optimizer = True, reference, False
        if not passed:
            result.findings.append(
                Found(
                    "NN903",
                    f"the model cannot over-fit one batch of {n} samples in {len(trace.losses)} "
                    f"steps: {trace.diagnosis()}",
                    "a model that cannot memorise a handful of samples has a bug: check the "
                    "gradient findings, the output layer and the loss",
                    "model",
                )
            )
        if self.out_of_time():
            result.status = "partial"
            return
        self._ignores_inputs(batch, trace, user_optimizer, result)

    def _fit(self, batch: Any, optimizer: Any, result: CheckResult, zero: bool = False) -> Trace:
        if zero:
            x, y = self.unpack(batch)
            batch = _zeroed(x), y
        trace = Trace()
        steps = self.steps.run(batch, optimizer, self.o.overfit_steps)
        for index, step in enumerate(steps):
            trace.losses.append(step.value)
            trace.loop_steps += step.loop
            if not math.isfinite(step.value):
                trace.nonfinite = self.first_nonfinite(batch) or ""
                break
            if not step.requires_grad:
                trace.no_grad = True
                break
            trace.zero_grads = trace.zero_grads or step.zero_grads
            trace.correct = self._all_correct(step.out, batch)
            if trace.check() or self.out_of_time():
                break
            if not zero:
                self.emit(
                    {
                        "event": "progress",
                        "check": "overfit",
                        "done": index + 1,
                        "total": self.o.overfit_steps,
                    }
                )
        steps.close()
        return trace

    def _all_correct(self, out: Any, batch: Any) -> bool:
        logits = logits_of(out)
        if logits is None or self.kind not in ("ce", "nll", "bce_logits", "bce"):
            return False
        _, y = self.unpack(batch)
        if not isinstance(y, torch.Tensor):
            return False
        with torch.no_grad():
            if self.kind in ("ce", "nll") and not y.is_floating_point() and logits.dim() >= 2:
                return bool((logits.argmax(1) == y).all())
            if self.kind in ("bce", "bce_logits") and logits.shape == y.shape:
                threshold = 0.0 if self.kind == "bce_logits" else 0.5
                return bool(((logits > threshold).float() == y.float()).all())
        return False

    def _ignores_inputs(
        self, batch: Any, trace: Trace, user_optimizer: bool, result: CheckResult
    ) -> None:
        """Fit the same batch with the inputs zeroed: doing as well means ignoring them."""
        if self.step_only or trace.no_grad or not trace.losses:
            return
        self.snapshot.restore_weights()
        optimizer = self.b.optimizer if user_optimizer else self.fresh_adam()
        passed = trace.passed
        steps = self.o.overfit_steps
        self.o.overfit_steps = len(trace.losses)
        try:
            blind = self._fit(batch, optimizer, result, zero=True)
        finally:
            self.o.overfit_steps = steps
        result.metrics["zeroed_inputs_run"] = blind.summary()
        real, zero = trace.best, blind.best
        start = blind.losses[0] if blind.losses else math.nan
        as_well = math.isfinite(real) and math.isfinite(zero) and zero <= 1.02 * real
        learnt = zero < 0.9 * start or not passed
        if as_well and learnt and not self.vanishing:
            result.findings.append(
                Found(
                    "NN910",
                    f"with its inputs zeroed the model fits the batch as well (loss {_fmt(zero)}) "
                    f"as with them ({_fmt(real)}): it does not use its inputs",
                    "check that forward uses its input argument (and not a buffer, a constant or a "
                    "zeroed mask)",
                    "model",
                )
            )

    # -- 3. LR finder ---------------------------------------------------------------------

    def check_lr_finder(self, result: CheckResult) -> None:
        optimizer, described = self.optimizer()
        lrs = lrfind.schedule(self.o.lr_min, self.o.lr_max, self.o.lr_steps)
        losses: list[float] = []
        smoothed: list[float] = []
        stop = "end of the sweep"
        steps = self.steps.run(None, optimizer, len(lrs), lrs)
        loop_steps = 0
        for index, step in enumerate(steps):
            losses.append(step.value)
            loop_steps += step.loop
            finite_loss = math.isfinite(step.value)
            smoothed.append(lrfind.smooth(losses)[-1] if finite_loss else math.nan)
            if lrfind.diverged(smoothed, step.value):
                stop = "NaN/Inf loss" if not finite_loss else "divergence"
                break
            if self.out_of_time():
                stop = "the time budget ran out"
                result.status = "partial"
                break
            self.emit(
                {"event": "progress", "check": "lr-finder", "done": index + 1, "total": len(lrs)}
            )
        steps.close()
        usable = [s for s in smoothed if math.isfinite(s)]
        suggestion = lrfind.suggest(lrs[: len(usable)], usable, diverged=stop != "end of the sweep")
        result.metrics.update(
            optimizer=type(optimizer).__name__,
            lrs=lrs[: len(losses)],
            losses=losses,
            smoothed=smoothed,
            stopped=stop,
            suggested_lr=suggestion.lr,
            valley=suggestion.valley,
            configured_lr=self.configured_lr,
            loop_steps=loop_steps,
            method=lrfind.METHOD,
        )
        if suggestion.lr is None:
            result.findings.append(
                Found(
                    "NN916",
                    f"the LR finder found no clear valley from {self.o.lr_min:g} to "
                    f"{self.o.lr_max:g} with {described.split('(')[0]}: {suggestion.reason}",
                    "check the over-fit and gradient findings first; then try a longer sweep or "
                    "another range",
                    "factory",
                )
            )
            return
        if self.configured_lr:
            verdict = lrfind.compare(self.configured_lr, suggestion.lr)
            if verdict:
                far = self.configured_lr / suggestion.lr
                times = f"{_fmt(far)}x" if verdict == "high" else f"1/{_fmt(1 / far)}"
                result.findings.append(
                    Found(
                        "NN906",
                        f"the configured learning rate {self.configured_lr:g} is {verdict}: "
                        f"{times} "
                        f"the LR finder's suggestion {suggestion.lr:.2g}",
                        f"try lr={suggestion.lr:.2g} (and keep a schedule/warm-up if you use one)",
                        "factory",
                    )
                )


class Trace:
    """The losses of one over-fit run and what went wrong in it."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.nonfinite: str | None = None
        self.no_grad = False
        self.zero_grads = False
        self.correct = False
        self.passed = False
        self.loop_steps = 0  # steps run by the script's own loop

    @property
    def best(self) -> float:
        finite_losses = [v for v in self.losses if math.isfinite(v)]
        return min(finite_losses) if finite_losses else math.nan

    def check(self) -> bool:
        """True once the batch is fit: loss at most 5% of its start, or every sample right."""
        start, now = self.losses[0], self.losses[-1]
        self.passed = (start > 0 and now <= OVERFIT_TARGET * start) or (
            self.correct and now < start
        )
        return self.passed

    def diagnosis(self) -> str:
        if self.nonfinite is not None:
            where = (
                f"; the first non-finite output comes from `{self.nonfinite}`"
                if self.nonfinite
                else ""
            )
            return f"the loss became NaN/Inf at step {len(self.losses)}{where}"
        if self.no_grad:
            return "no parameter gets a gradient"
        if self.zero_grads:
            return "every gradient is exactly zero"
        start, end = self.losses[0], self.losses[-1]
        if end > start * 1.1:
            return f"the loss rose from {_fmt(start)} to {_fmt(end)}"
        share = end / start if start else 1.0
        return f"the loss plateaued at {_fmt(end)} ({share:.0%} of its start {_fmt(start)})"

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.losses),
            "start": self.losses[0] if self.losses else None,
            "end": self.losses[-1] if self.losses else None,
            "passed": self.passed,
            "loop_steps": self.loop_steps,
            "diagnosis": None if self.passed else (self.diagnosis() if self.losses else None),
        }


def _is_t(obj: Any) -> bool:
    return isinstance(obj, torch.Tensor)


def _zeroed(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return torch.zeros_like(x) if x.is_floating_point() else x
    if isinstance(x, dict):
        return {k: _zeroed(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_zeroed(v) for v in x)
    return x
