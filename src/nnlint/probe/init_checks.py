"""1. Loss at init: its level, its reduction, the labels' range and the output's constraints."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nnlint.probe.batches import batch_size, logits_of, take
from nnlint.probe.results import CheckResult, Found, fmt

INIT_BAND = (0.5, 1.5)  # initial loss within these multiples of the expected value


class InitChecks:
    """Mixed into `checks.Probe`, which holds the bundle (`b`), the options (`o`), the
    model, the device and the first batches."""

    # -- 1. loss at init ------------------------------------------------------------------

    def check_init(self, result: CheckResult) -> None:
        batch = self.batches[0]
        self.model.train()
        own = getattr(self.b.loss, "own", False)  # the model computes its own loss
        with torch.no_grad():
            logits = None
            if not self.step_only or self.criterion is not None:
                x, y = self.unpack(batch)
                logits, y = self.seen_by_loss(self.forward(x), y)
                if not own and not self._labels_ok(logits, y, result):
                    self.skip = "the labels are out of range for the loss"
                    return
                if not own:
                    self._constrained_outputs(logits, batch, result)
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
        expected, what = self._expected_loss(logits, own)
        if expected is None:
            return
        scale = size if summed else 1
        ratio = value / (expected * scale)
        result.metrics.update(expected=expected * scale, ratio=ratio)
        if not INIT_BAND[0] <= ratio <= INIT_BAND[1]:
            result.findings.append(
                Found(
                    "NN901",
                    f"the loss at initialisation is {fmt(value)}, {fmt(ratio)}x the "
                    f"{fmt(expected * scale)} expected for {what}",
                    "initialise the output layer so it starts uncertain (small weights, zero or "
                    "prior bias) and check the targets match the loss",
                    "model",
                )
            )

    def _expected_loss(self, out: torch.Tensor | None, own: bool) -> tuple[float | None, str]:
        """ln C for C classes: the second dimension of what a cross-entropy receives (a
        model's own loss: the last dimension of its logits, as Hugging Face's)."""
        axis = -1 if own else 1
        classes = out.shape[axis] if out is not None and out.dim() >= 2 else 0
        if self.kind in ("ce", "nll") and classes > 1:
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
                    f"the loss is summed over the batch, not averaged ({fmt(value)} for "
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
                        f"targets run from {fmt(float(yf.min()))} to {fmt(float(yf.max()))}, "
                        "outside the [0, 1] the loss expects",
                        "map the targets to 0/1 (or probabilities) before the loss",
                        "data",
                    )
                )
                return False
        return True

    def _constrained_outputs(
        self, out: torch.Tensor | None, batch: Any, result: CheckResult
    ) -> None:
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
        if (
            not message
            and self.kind == "bce_logits"
            and low > 0
            and high < 1
            and self._bounded_output(batch)
        ):
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

    def _bounded_output(self, batch: Any) -> bool:
        """True when the output stays within [0, 1] after the last layer's weights are
        scaled up and its bias raised: a squashing function (a sigmoid) follows that layer.
        Small raw logits that happen to lie in (0, 1) leave it."""
        with self.watch() as seen, torch.no_grad():
            self.loss_on(batch)
        layers = [self.model.get_submodule(n) if n else self.model for n in seen["ran"]]
        last = next((m for m in reversed(layers) if isinstance(_weight(m), nn.Parameter)), None)
        if last is None:
            return True
        weight, bias = _weight(last), getattr(last, "bias", None)
        saved = [t.detach().clone() for t in (weight, bias) if isinstance(t, torch.Tensor)]
        try:
            with torch.no_grad():
                weight.mul_(100.0)
                if isinstance(bias, torch.Tensor):
                    bias.add_(10.0)
                x, _ = self.unpack(batch)
                out = logits_of(self.forward(x))
        finally:
            with torch.no_grad():
                for tensor, value in zip((weight, bias), saved, strict=False):
                    tensor.copy_(value)
        return out is not None and float(out.min()) >= 0 and float(out.max()) <= 1


def _weight(module: nn.Module) -> Any:
    return getattr(module, "weight", None)
