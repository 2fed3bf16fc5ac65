"""2. The one-batch over-fit test and the input check, 3. the LR finder: the checks that
train.

Every verdict here rests on a run: NN903 only after the configured optimizer and the
known-good settings all failed to fit one batch within a budget scaled to the model;
NN910 only when the model's outputs stay the same for other samples' inputs; NN906 only
when a short A/B run (configured LR against the suggestion, the same steps on the same
batches) shows the configured LR measurably worse, or the configured optimizer cannot fit
the batch where a known-good one can.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import torch
from torch import nn

from nnlint.probe import lrfind
from nnlint.probe.batches import batch_size, logits_of, map_tensors, take, tensors
from nnlint.probe.results import CheckResult, Found, fmt
from nnlint.probe.steps import Cycle

DEFAULT_LR = 1e-3  # Adam's when the factory gives no optimizer (3e-4 needs ~400 steps to
# memorise 16 samples of an easy task, 1e-3 about 130: it fits the over-fit budget)
KNOWN_GOOD = (1e-3, 1e-2)  # Adam LRs tried before a model is said not to fit one batch
OVERFIT_TARGET = 0.05  # pass when the loss falls to 5% of its start
EXTEND = 4  # a run still improving at its budget goes on, up to this many budgets
PLATEAU_SHARE = 0.25  # stop a run whose best loss did not improve over this share of it
PLATEAU_GAIN = 0.01  # ... by more than this fraction
SLOW_MODELS = (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer)
LR_SWEEPS = 3  # sweeps whose median suggestion is the advice
AB_STEPS = 60  # steps of each arm of the A/B run
AB_WORSE = 1.1  # a higher configured LR is worse when its loss is this many times the other's
AB_SLOW = 0.25  # a lower one, when it makes less than this share of the other's progress


class TrainingChecks:
    """Mixed into `checks.Probe`, which holds the bundle (`b`), the options (`o`), the
    model, the device and the first batches."""

    # -- 2. one-batch over-fit ------------------------------------------------------------

    def overfit_budget(self) -> int:
        """The step budget: `overfit-steps`, doubled for recurrent or attention models and
        for models over 100k parameters, which need more steps to memorise a batch. A run
        still improving at the budget goes on (`Trace.stalled`), up to `EXTEND` budgets."""
        steps = self.o.overfit_steps
        if any(_slow(m) for m in self.model.modules()):
            steps *= 2
        if sum(p.numel() for p in self.model.parameters()) > 100_000:
            steps *= 2
        return steps

    def overfit_batch(self) -> tuple[Any, int]:
        """Up to `overfit-batch` samples of the first batch; the whole batch when its
        tensors disagree on the first dimension (sequence-first batches, flattened targets),
        where a cut would cut the wrong axis."""
        first = self.batches[0]
        size = batch_size(first) or 1
        sizes = {t.shape[0] for t in tensors(first) if t.dim()}
        if len(sizes) > 1:
            return first, size
        n = max(2, min(self.o.overfit_batch, size))
        return take(first, n, size), min(n, size)

    def check_overfit(self, result: CheckResult) -> None:
        batch, n = self.overfit_batch()
        result.metrics["samples"] = n
        budget = self.overfit_budget()
        result.metrics["budget"] = budget
        optimizer, described = self.optimizer()
        trace = self._fit(batch, optimizer, budget)
        result.metrics["run"] = {"optimizer": described, **trace.summary()}
        user = self.b.optimizer is not None
        fitted = trace if trace.passed else None
        references = []
        if fitted is None and not trace.no_grad and not trace.zero_grads:
            for lr in KNOWN_GOOD:
                if self.out_of_time() or described == f"Adam(lr={lr:g})":
                    continue  # out of time, or the very setting that just failed
                self.snapshot.restore_weights()
                reference = self._fit(batch, self.fresh_adam(lr), budget)
                references.append({"optimizer": f"Adam(lr={lr:g})", **reference.summary()})
                if reference.passed:
                    fitted = reference
                    break
        result.metrics["reference_runs"] = references
        if fitted is not None and fitted is not trace and user and "NN917" not in self.found:
            # (an output activation that fights the loss, NN917, is why it is slow to fit)
            result.findings.append(
                Found(
                    "NN906",
                    f"{described} cannot over-fit one batch of {n} samples in "
                    f"{len(trace.losses)} steps ({trace.diagnosis()}), while "
                    f"{references[-1]['optimizer']} fits it in {len(fitted.losses)} steps "
                    f"(loss {fmt(fitted.start)} -> {fmt(fitted.best)})",
                    "tune the learning rate (see the LR finder's suggestion) or the optimizer",
                    "factory",
                )
            )
        elif fitted is None:
            tried = ", ".join([described, *(r["optimizer"] for r in references)])
            result.findings.append(
                Found(
                    "NN903",
                    f"the model cannot over-fit one batch of {n} samples ({tried}, up to "
                    f"{budget} steps each): {trace.diagnosis()}{self._likely_cause(trace, batch)}",
                    "a model that cannot memorise a handful of samples has a bug: check the "
                    "gradient findings, the output layer and the loss",
                    "model",
                )
            )
        if self.out_of_time():
            result.status = "partial"
            return
        self._ignores_inputs(batch, result)

    def _fit(self, batch: Any, optimizer: Any, budget: int) -> Trace:
        """Train on one batch until it is fit, the loss stops improving, or the budget
        runs out."""
        trace = Trace()
        cap = budget * EXTEND
        steps = self.steps.run(batch, optimizer, cap)
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
            trace.out = step.out
            if trace.check() or self.out_of_time():
                break
            if index + 1 >= budget and trace.stalled():
                break
            self.emit({"event": "progress", "check": "overfit", "done": index + 1, "total": cap})
        steps.close()
        return trace

    def _all_correct(self, out: Any, batch: Any) -> bool:
        if out is None or self.kind not in ("ce", "nll", "bce_logits", "bce"):
            return False
        if getattr(self.b.loss, "own", False):
            return False  # a model's own loss may shift its labels (a causal LM): by loss only
        logits, y = self.seen_by_loss(out, self.unpack(batch)[1])
        if not isinstance(logits, torch.Tensor) or not isinstance(y, torch.Tensor):
            return False
        with torch.no_grad():
            if self.kind in ("ce", "nll") and not y.is_floating_point() and logits.dim() >= 2:
                if logits.shape[0] != y.shape[0]:
                    return False
                ignore = getattr(self.criterion, "ignore_index", -100)
                right = (logits.argmax(1) == y) | (y == ignore)
                return bool(right.all())
            if self.kind in ("bce", "bce_logits") and logits.shape == y.shape:
                threshold = 0.0 if self.kind == "bce_logits" else 0.5
                return bool(((logits > threshold).float() == y.float()).all())
        return False

    def _likely_cause(self, trace: Trace, batch: Any) -> str:
        """The likeliest cause of a failed over-fit, from what the batch and the run show."""
        if trace.zero_grads:
            return (
                "; likely cause: a step without a derivative between the output and the loss "
                "(round, argmax, a threshold or comparison), or dead units"
            )
        _, y = self.unpack(batch)
        if self.kind == "regression" and isinstance(y, torch.Tensor) and y.numel() > 1:
            yf = y.detach().float()
            scale = max(float(yf.abs().mean()), float(yf.std()))
            if scale > 10:
                return (
                    f"; likely cause: unscaled targets (mean |y| {fmt(float(yf.abs().mean()))}, "
                    f"std {fmt(float(yf.std()))}): standardise them"
                )
            bounded = self._bounded_range(trace.out, yf)
            if bounded:
                return bounded
        dead = [k for k, v in (self.dead_relu or {}).items() if v > 0.5]
        if dead:
            return f"; likely cause: dead units in {', '.join(f'`{d}`' for d in dead[:3])}"
        return ""

    def _bounded_range(self, out: Any, y: torch.Tensor) -> str:
        """A regression whose outputs stay in [0, 1] or [-1, 1] (a sigmoid or tanh at the
        end) while its targets leave that range: the output activation cannot reach them."""
        logits = logits_of(out)
        if logits is None or not logits.is_floating_point():
            return ""
        low, high = float(logits.detach().min()), float(logits.detach().max())
        for bottom, top, name in ((0.0, 1.0, "a sigmoid"), (-1.0, 1.0, "a tanh")):
            inside = low >= bottom and high <= top
            if inside and (float(y.min()) < bottom - 0.05 or float(y.max()) > top + 0.05):
                return (
                    f"; likely cause: a wrong output activation: the outputs stay within "
                    f"[{bottom:g}, {top:g}] ({name}?) but the targets run from "
                    f"{fmt(float(y.min()))} to {fmt(float(y.max()))}"
                )
        return ""

    def _ignores_inputs(self, batch: Any, result: CheckResult) -> None:
        """NN910 when the outputs stay the same for other samples' inputs: each sample's
        inputs are replaced by the next sample's (other valid values: token ids stay
        token ids), the model run in eval mode on both; a model that uses its inputs
        gives different outputs for different samples."""
        if self.step_only:
            return
        x, _ = self.unpack(batch)
        n = batch_size(x)
        if not n or n < 2 or not self._samples_differ(x, n):
            return
        shift = torch.arange(n).roll(1)

        def swap(t: torch.Tensor) -> torch.Tensor:
            return t[shift.to(t.device)] if t.dim() and t.shape[0] == n else t

        other = map_tensors(x, swap)
        training = {name: m.training for name, m in self.model.named_modules()}
        self.model.eval()
        try:
            with torch.no_grad():
                real, swapped = logits_of(self.forward(x)), logits_of(self.forward(other))
        finally:
            for name, module in self.model.named_modules():
                module.training = training[name]
        if real is None or swapped is None or real.shape != swapped.shape or not real.dim():
            return
        real, swapped = real.detach().float(), swapped.detach().float()
        change = float((real - swapped).abs().max())
        scale = float(real.abs().max()) or 1.0
        result.metrics["input_swap"] = {"max_change": change, "max_output": scale}
        if change <= 1e-6 * scale and not any(v > 0.5 for v in (self.dead_relu or {}).values()):
            result.findings.append(
                Found(
                    "NN910",
                    f"the model's outputs do not change when each of {n} samples gets another "
                    f"sample's inputs (largest change {fmt(change)} on outputs up to "
                    f"{fmt(scale)}): it does not use its inputs",
                    "check that forward uses its input argument (and not a buffer, a constant or "
                    "a zeroed mask)",
                    "model",
                )
            )

    @staticmethod
    def _samples_differ(x: Any, n: int) -> bool:
        return any(t.dim() and t.shape[0] == n and not bool((t == t[:1]).all()) for t in tensors(x))

    # -- 3. LR finder ---------------------------------------------------------------------

    def check_lr_finder(self, result: CheckResult) -> None:
        """Several sweeps (each on the data's next batches) and the median of their
        suggestions; then, when the configured LR is far from it, the A/B run."""
        optimizer, described = self.optimizer()
        lrs = lrfind.schedule(self.o.lr_min, self.o.lr_max, self.o.lr_steps)
        sweeps = []
        for index in range(LR_SWEEPS):
            if index:
                self.snapshot.restore_weights()
            sweep = self._sweep(optimizer, lrs, index, result)
            sweeps.append(sweep)
            if result.status == "partial":
                break
        suggestions = [s["suggested_lr"] for s in sweeps if s["suggested_lr"]]
        lr = _geometric_median(suggestions) if len(suggestions) * 2 > len(sweeps) else None
        flat = all(s["flat"] for s in sweeps)
        first = sweeps[0]
        result.metrics.update(
            optimizer=type(optimizer).__name__,
            lrs=first["lrs"],
            losses=first["losses"],
            smoothed=first["smoothed"],
            stopped=first["stopped"],
            valley=first["valley"],
            sweeps=sweeps,
            suggested_lr=lr,
            configured_lr=self.configured_lr,
            loop_steps=sum(s["loop_steps"] for s in sweeps),
            method=f"median over {len(sweeps)} sweeps of the {lrfind.METHOD}",
        )
        if lr is None:
            if flat and result.status != "partial":
                reasons = "; ".join(sorted({s["reason"] for s in sweeps}))
                result.findings.append(
                    Found(
                        "NN916",
                        f"the LR finder's loss is flat from {self.o.lr_min:g} to "
                        f"{self.o.lr_max:g} with {described.split('(')[0]} in all "
                        f"{len(sweeps)} sweeps ({reasons}): no learning rate trains this model",
                        "check the over-fit and gradient findings first (a frozen or detached "
                        "model, a loss without a derivative)",
                        "factory",
                    )
                )
            return
        if "NN917" in self.found:
            return  # an output activation that fights the loss: no LR is the fix
        if self.configured_lr and lrfind.compare(self.configured_lr, lr) and not self.out_of_time():
            self._ab_run(optimizer, lr, result)

    def _sweep(
        self, optimizer: Any, lrs: list[float], index: int, result: CheckResult
    ) -> dict[str, Any]:
        losses: list[float] = []
        smoothed: list[float] = []
        stop = "end of the sweep"
        steps = self.steps.run(None, optimizer, len(lrs), lrs)
        loop_steps = 0
        for step_index, step in enumerate(steps):
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
            done = index * len(lrs) + step_index + 1
            self.emit(
                {
                    "event": "progress",
                    "check": "lr-finder",
                    "done": done,
                    "total": LR_SWEEPS * len(lrs),
                }
            )
        steps.close()
        usable = [s for s in smoothed if math.isfinite(s)]
        suggestion = lrfind.suggest(lrs[: len(usable)], usable, diverged=stop != "end of the sweep")
        raw = [v for v in losses if math.isfinite(v)]
        flat = suggestion.flat and lrfind.flat(raw)
        return {
            "lrs": lrs[: len(losses)],
            "losses": losses,
            "smoothed": smoothed,
            "stopped": stop,
            "suggested_lr": suggestion.lr,
            "valley": suggestion.valley,
            "reason": suggestion.reason,
            "flat": flat,
            "loop_steps": loop_steps,
        }

    def _ab_run(self, optimizer: Any, suggested: float, result: CheckResult) -> None:
        """The configured LR against the suggestion: the same number of steps from the
        initial weights on the same batches; NN906 when the configured LR ends measurably
        worse (or diverges)."""
        configured = self.configured_lr
        assert configured is not None
        arms = {}
        for name, lr in (("configured", configured), ("suggested", suggested)):
            self.snapshot.restore_weights()
            arms[name] = self._ab_arm(optimizer, lr)
        self.snapshot.restore_weights()
        mine, theirs = arms["configured"], arms["suggested"]
        result.metrics["ab_run"] = {
            "steps": AB_STEPS,
            "batches": len(self.batches),
            "configured_lr": configured,
            "suggested_lr": suggested,
            **{f"{k}_losses": v for k, v in arms.items()},
            "configured_final": _final(mine),
            "suggested_final": _final(theirs),
        }
        a, b = _final(mine), _final(theirs)
        if not math.isfinite(b):
            return
        start = mine[0]
        verdict = "high" if configured > suggested else "low"
        diverged = not math.isfinite(a) or a > 1.5 * start
        if verdict == "high" and not diverged and a <= AB_WORSE * b:
            return
        if verdict == "low" and (start - a) >= AB_SLOW * (start - b):
            return  # slower in a short run is no verdict: a lower LR often ends better
        if "NN906" in self.found:
            return  # the over-fit already reported the optimizer setting
        how = "diverges" if diverged else "ends worse" if verdict == "high" else "barely moves"
        shown = "NaN/Inf" if not math.isfinite(a) else fmt(a)
        result.findings.append(
            Found(
                "NN906",
                f"the configured learning rate {configured:g} is too {verdict}: over "
                f"{AB_STEPS} steps on the same {len(self.batches)} batch(es) it {how} (loss "
                f"{shown}) where the LR finder's suggestion {suggested:.2g} reaches "
                f"{fmt(b)} (from {fmt(mine[0])})",
                f"try lr={suggested:.2g} (and keep a schedule/warm-up if you use one)",
                "factory",
            )
        )

    def _ab_arm(self, optimizer: Any, lr: float) -> list[float]:
        """`AB_STEPS` steps at `lr` (set before each step, past any schedule) on the first
        batches in turn."""
        losses = []
        steps = self.steps.run(Cycle(tuple(self.batches)), optimizer, AB_STEPS, [lr] * AB_STEPS)
        for step in steps:
            losses.append(step.value)
            if not math.isfinite(step.value) or not step.requires_grad:
                break
        steps.close()
        return losses


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
        self.out: Any = None  # the model's output at the last step

    @property
    def start(self) -> float:
        return self.losses[0] if self.losses else math.nan

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

    def stalled(self) -> bool:
        """The best loss has not improved by 1% over the last quarter of the run: more
        steps would not fit the batch."""
        n = len(self.losses)
        cut = n - max(int(n * PLATEAU_SHARE), min(25, n // 2))
        if not 0 < cut < n:
            return False  # too short a run to tell
        before, after = min(self.losses[:cut]), min(self.losses[cut:])
        return after > before * (1 - PLATEAU_GAIN)

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
            return f"every gradient is exactly zero (the loss stays at {fmt(self.losses[-1])})"
        start, end, best = self.losses[0], self.losses[-1], self.best
        if end > start * 1.1:
            return f"the loss rose from {fmt(start)} to {fmt(end)}"
        share = best / start if start else 1.0
        return (
            f"the loss plateaued at {fmt(best)} ({share:.0%} of its start {fmt(start)}, "
            f"{OVERFIT_TARGET:.0%} needed)"
        )

    def summary(self) -> dict[str, Any]:
        return {
            "steps": len(self.losses),
            "start": self.losses[0] if self.losses else None,
            "end": self.losses[-1] if self.losses else None,
            "best": self.best if self.losses else None,
            "passed": self.passed,
            "loop_steps": self.loop_steps,
            "diagnosis": None if self.passed else (self.diagnosis() if self.losses else None),
        }


def _slow(module: nn.Module) -> bool:
    """A recurrent or attention layer (torch's, or a library's `...Attention` class)."""
    return isinstance(module, SLOW_MODELS) or type(module).__name__.endswith("Attention")


def _final(losses: list[float]) -> float:
    """The A/B arm's end: the mean of its last 10 losses (NaN when it diverged)."""
    if not losses or not all(math.isfinite(v) for v in losses):
        return math.nan
    tail = losses[-10:]
    return sum(tail) / len(tail)


def _geometric_median(values: list[float]) -> float:
    return math.exp(statistics.median(math.log(v) for v in values))
