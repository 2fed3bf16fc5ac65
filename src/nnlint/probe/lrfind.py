"""The LR finder's arithmetic, free of torch: smoothing, divergence and the suggestion.

The sweep raises the learning rate exponentially from `lr_min` to `lr_max`, one batch per
step, and stops when the loss turns NaN/Inf or the smoothed loss reaches 4x its best
(both count as divergence). The suggestion is the geometric mean of two of fastai's rules,
read off the smoothed loss against log(lr):

- *minimum/10*: the learning rate at the smoothed minimum divided by 10, a decade below the
  edge of divergence;
- *valley*: the middle (in log(lr)) of the longest descending stretch of the smoothed loss,
  the end of the longest strictly decreasing run of points and as many steps before it,
  leaving out the first tenth of the sweep and its last few points as fastai does.

Each alone errs in a known direction: minimum/10 lands too high when the minimum sits at
the far end of a flat, noisy floor (a recurrent model), the valley too low when a long,
slowly sinking plateau before the fall stretches the descending run (a regression); their
geometric mean, halfway between them in log(lr), keeps either error to half. On
bench/probe_lr.py it is closer to the grid's best learning rate than minimum/10 alone
(see the README). Known limit: like fastai's valley, it reads the whole sweep after its
first tenth, so on a noise-free curve that creeps down from the very start (a single
fixed batch) the valley can start there and the suggestion lean low. The curve has no clear
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
BELOW_MINIMUM = 10.0  # minimum/10: the LR at the minimum divided by this
VALLEY_TAIL = 5  # the valley leaves out at most this many last points (the divergence)
TOO_HIGH, TOO_LOW = 10.0, 30.0  # flag a configured LR this far above / below the suggestion
METHOD = (
    "geometric mean of minimum/10 (the LR at the smoothed loss's minimum divided by 10) and "
    "valley (the middle of the longest descending stretch of the smoothed loss)"
)


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
    """The suggested LR, or None with the reason the curve does not support one; `valley`
    is the first and last index of the descending stretch."""

    lr: float | None
    index: int | None
    valley: tuple[int, int] | None
    reason: str = ""
    flat: bool = False  # no suggestion because the smoothed loss barely moves


def valley(smoothed: list[float]) -> tuple[int, int, int]:
    """fastai's `valley`: the point that ends the longest strictly decreasing run (not
    necessarily contiguous) of the smoothed loss, the point as many steps before it, and
    the point half-way between them (fastai's index arithmetic); searched without the first
    tenth of the sweep and its last few points."""
    n = len(smoothed)
    first, stop = n // 10, n - min(VALLEY_TAIL, n // 10)
    run = [1] * n  # run[i]: the longest decreasing run ending at point i
    end = first
    for i in range(first + 1, stop):
        run[i] = 1 + max((run[j] for j in range(first, i) if smoothed[j] > smoothed[i]), default=0)
        if run[i] > run[end]:
            end = i
    begin = max(first, end - run[end])
    third = (end - begin) / 3
    return begin, end, begin + int(third) + int(third / 2)


def suggest(lrs: list[float], smoothed: list[float], *, diverged: bool = True) -> Suggestion:
    """The geometric mean of the minimum/10 and valley rules, or None with the reason (see
    the module docstring); `diverged` says whether the sweep ended by diverging."""
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
        return Suggestion(None, None, None, f"the smoothed loss falls by only {share:.0%}", True)
    if lowest == n - 1 and not diverged:
        return Suggestion(None, None, None, "the loss still falls at the end of the sweep")
    first, last, middle = valley(smoothed)
    lr = math.sqrt(lrs[lowest] / BELOW_MINIMUM * lrs[middle])
    index = min(range(n), key=lambda i: abs(math.log(lrs[i] / lr)))
    return Suggestion(lr, index, (first, last))


def flat(losses: list[float]) -> bool:
    """The raw losses of a sweep never fall 10% below their starting level either (a
    smoothed curve can hide a short dip at the high end of the sweep)."""
    if len(losses) < START_POINTS:
        return True
    start = statistics.median(losses[:START_POINTS])
    return min(losses) > start - MIN_VALLEY_DROP * abs(start)


def compare(configured: float, suggested: float) -> str | None:
    """'high' or 'low' when the configured LR is far from the suggestion, else None."""
    if configured > TOO_HIGH * suggested:
        return "high"
    if configured * TOO_LOW < suggested:
        return "low"
    return None
