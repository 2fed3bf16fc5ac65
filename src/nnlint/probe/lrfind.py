"""The LR finder's arithmetic, free of torch: smoothing, divergence and the suggestion.

The sweep raises the learning rate exponentially from `lr_min` to `lr_max`, one batch per
step, and stops when the loss turns NaN/Inf or the smoothed loss reaches 4x its best
(both count as divergence). The suggestion is the learning rate at the minimum of the
smoothed loss divided by 10 (the "minimum/10" rule of fastai's LR finder): the minimum
sits at the edge of divergence, a decade below it the loss still falls steadily. On the
benchmark in bench/probe_lr.py it lands closer to the best learning rate of a grid search
than the steepest-slope rule or the middle of the falling part. The curve has no clear
valley, and the finder gives no number, when the smoothed loss falls by less than 10% from
its starting level (the median of the first points), when its minimum is in the first
steps, or when it still falls at the end of a sweep that never diverged.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

SMOOTHING = 0.9  # bias-corrected exponential moving average of the loss
DIVERGENCE = 4.0  # stop once the smoothed loss is this many times its best
MIN_VALLEY_DROP = 0.1  # a fall of less than 10% of the starting loss is flat
START_POINTS = 10  # the starting level: the median of this many first points
BELOW_MINIMUM = 10.0  # suggest the LR at the minimum divided by this
TOO_HIGH, TOO_LOW = 10.0, 30.0  # flag a configured LR this far above / below the suggestion


def schedule(lr_min: float, lr_max: float, steps: int) -> list[float]:
    """`steps` learning rates spaced evenly in log from `lr_min` to `lr_max`."""
    if steps < 2:
        return [lr_min]
    ratio = math.log(lr_max / lr_min) / (steps - 1)
    return [lr_min * math.exp(ratio * i) for i in range(steps)]


def smooth(losses: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average (as in Adam), so the first points are not
    pulled towards zero."""
    out, average = [], 0.0
    for i, loss in enumerate(losses, start=1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta**i))
    return out


def diverged(smoothed: list[float], raw: float) -> bool:
    """True when the last step is NaN/Inf or the smoothed loss left its best far behind."""
    if not math.isfinite(raw) or not math.isfinite(smoothed[-1]):
        return True
    return smoothed[-1] > DIVERGENCE * min(smoothed) and len(smoothed) > 5


@dataclass(frozen=True)
class Suggestion:
    """The suggested LR, or None with the reason the curve does not support one."""

    lr: float | None
    index: int | None
    valley: tuple[int, int] | None
    reason: str = ""


def suggest(lrs: list[float], smoothed: list[float], *, diverged: bool = True) -> Suggestion:
    """The LR at the smoothed minimum / 10, or None with the reason (see the module
    docstring); `diverged` says whether the sweep ended by diverging."""
    n = len(smoothed)
    if n < START_POINTS:
        return Suggestion(None, None, None, f"the sweep stopped after {n} steps")
    lowest = min(range(n), key=smoothed.__getitem__)
    start = statistics.median(smoothed[:START_POINTS])
    fall = start - smoothed[lowest]
    if lowest < 3:
        return Suggestion(None, None, None, "the loss only rises")
    if fall < MIN_VALLEY_DROP * abs(start):
        share = max(fall, 0.0) / abs(start) if start else 0.0
        return Suggestion(None, None, None, f"the smoothed loss falls by only {share:.0%}")
    if lowest == n - 1 and not diverged:
        return Suggestion(None, None, None, "the loss still falls at the end of the sweep")
    lr = lrs[lowest] / BELOW_MINIMUM
    index = min(range(n), key=lambda i: abs(math.log(lrs[i] / lr)))
    return Suggestion(lr, index, (index, lowest))


def compare(configured: float, suggested: float) -> str | None:
    """'high' or 'low' when the configured LR is far from the suggestion, else None."""
    if configured > TOO_HIGH * suggested:
        return "high"
    if configured * TOO_LOW < suggested:
        return "low"
    return None
