"""2. The one-batch over-fit test and 3. the LR finder: the checks that train."""

from __future__ import annotations

import math
from typing import Any

import torch

from nnlint.probe import lrfind
from nnlint.probe.batches import batch_size, logits_of, take, zeroed
from nnlint.probe.results import CheckResult, Found, fmt

DEFAULT_LR = 1e-3  # Adam's when the factory gives no optimizer (3e-4 needs ~400 steps to
# memorise 16 samples of an easy task, 1e-3 about 130: it fits the over-fit budget)
OVERFIT_TARGET = 0.05  # pass when the loss falls to 5% of its start


class TrainingChecks:
    """Mixed into `checks.Probe`, which holds the bundle (`b`), the options (`o`), the
    model, the device and the first batches."""

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
            batch = zeroed(x), y
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
                    f"with its inputs zeroed the model fits the batch as well (loss {fmt(zero)}) "
                    f"as with them ({fmt(real)}): it does not use its inputs",
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
                times = f"{fmt(far)}x" if verdict == "high" else f"1/{fmt(1 / far)}"
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
            return f"the loss rose from {fmt(start)} to {fmt(end)}"
        share = end / start if start else 1.0
        return f"the loss plateaued at {fmt(end)} ({share:.0%} of its start {fmt(start)})"

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.losses),
            "start": self.losses[0] if self.losses else None,
            "end": self.losses[-1] if self.losses else None,
            "passed": self.passed,
            "loop_steps": self.loop_steps,
            "diagnosis": None if self.passed else (self.diagnosis() if self.losses else None),
        }
