"""The LR finder's plot as a PNG: the smoothed loss of each sweep against the learning
rate (log scale), the suggestion in green, the configured LR in red, axes labels, a title
and a legend; when the A/B run ran, its two arms (loss against step) in a second panel.
Uses matplotlib when it is installed, else draws the plot itself and writes the PNG with
zlib (no extra dependency)."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WIDTH, HEIGHT = 720, 560
LEFT, RIGHT = 64, 16
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
BLUE, GREEN, RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)
SWEEP_COLOURS = (BLUE, (120, 170, 220), (170, 200, 235))

# 3x5 glyphs: rows top to bottom, 3 bits each (4 = left column); letters in capitals.
GLYPHS = {
    "0": (7, 5, 5, 5, 7),
    "1": (2, 6, 2, 2, 7),
    "2": (7, 1, 7, 4, 7),
    "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7),
    "6": (7, 4, 7, 5, 7),
    "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7),
    "9": (7, 5, 7, 1, 7),
    "-": (0, 0, 7, 0, 0),
    ".": (0, 0, 0, 0, 2),
    ":": (0, 2, 0, 2, 0),
    "/": (1, 1, 2, 4, 4),
    "(": (2, 4, 4, 4, 2),
    ")": (2, 1, 1, 1, 2),
    "=": (0, 7, 0, 7, 0),
    ",": (0, 0, 0, 2, 4),
    "A": (2, 5, 7, 5, 5),
    "B": (6, 5, 6, 5, 6),
    "C": (7, 4, 4, 4, 7),
    "D": (6, 5, 5, 5, 6),
    "E": (7, 4, 6, 4, 7),
    "F": (7, 4, 6, 4, 4),
    "G": (7, 4, 5, 5, 7),
    "H": (5, 5, 7, 5, 5),
    "I": (7, 2, 2, 2, 7),
    "J": (1, 1, 1, 5, 7),
    "K": (5, 5, 6, 5, 5),
    "L": (4, 4, 4, 4, 7),
    "M": (5, 7, 7, 5, 5),
    "N": (6, 5, 5, 5, 5),
    "O": (7, 5, 5, 5, 7),
    "P": (7, 5, 7, 4, 4),
    "Q": (7, 5, 5, 7, 1),
    "R": (7, 5, 6, 5, 5),
    "S": (7, 4, 7, 1, 7),
    "T": (7, 2, 2, 2, 2),
    "U": (5, 5, 5, 5, 7),
    "V": (5, 5, 5, 5, 2),
    "W": (5, 5, 7, 7, 5),
    "X": (5, 5, 2, 5, 5),
    "Y": (5, 5, 2, 2, 2),
    "Z": (7, 1, 2, 4, 7),
}


@dataclass
class PlotData:
    """What the plot shows: each sweep's (learning rates, smoothed losses), the suggested
    and configured LRs, and the A/B run's losses per arm (empty when it did not run)."""

    sweeps: list[tuple[list[float], list[float]]]
    suggested: float | None
    configured: float | None
    ab: dict[str, list[float]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return f"LR finder: loss vs learning rate ({len(self.sweeps)} sweeps)"


def write_plot(path: Path, data: PlotData) -> None:
    """Write the plot to `path`. Matplotlib's font cache goes to a temporary folder,
    removed after: nothing is written but the plot."""
    if importlib.util.find_spec("matplotlib") is None:
        path.write_bytes(_draw(data))
        return
    saved = os.environ.get("MPLCONFIGDIR")
    with tempfile.TemporaryDirectory(prefix="nnlint-matplotlib-") as scratch:
        os.environ["MPLCONFIGDIR"] = scratch
        try:
            import matplotlib  # noqa: PLC0415 - optional

            _matplotlib(matplotlib, path, data)
        finally:
            if saved is None:
                os.environ.pop("MPLCONFIGDIR", None)
            else:
                os.environ["MPLCONFIGDIR"] = saved


def _matplotlib(matplotlib: Any, path: Path, data: PlotData) -> None:
    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    panels = 2 if data.ab else 1
    figure, axes = pyplot.subplots(panels, 1, figsize=(7.2, 3.6 * panels), squeeze=False)
    sweep_axes = axes[0][0]
    for index, (lrs, losses) in enumerate(data.sweeps):
        points = [(x, y) for x, y in zip(lrs, losses, strict=False) if math.isfinite(y)]
        sweep_axes.plot(
            [p[0] for p in points], [p[1] for p in points], label=f"sweep {index + 1}", alpha=0.8
        )
    if data.suggested:
        sweep_axes.axvline(
            data.suggested, color="tab:green", label=f"suggested {data.suggested:.2g}"
        )
    if data.configured:
        sweep_axes.axvline(
            data.configured, color="tab:red", label=f"configured {data.configured:.2g}"
        )
    sweep_axes.set_xscale("log")
    sweep_axes.set_xlabel("learning rate")
    sweep_axes.set_ylabel("loss (smoothed)")
    sweep_axes.set_title(data.title)
    sweep_axes.legend()
    if data.ab:
        ab_axes = axes[1][0]
        for name, losses in data.ab.items():
            colour = "tab:red" if name == "configured" else "tab:green"
            ab_axes.plot(range(1, len(losses) + 1), losses, color=colour, label=name)
        ab_axes.set_xlabel("step")
        ab_axes.set_ylabel("loss")
        ab_axes.set_title("A/B run: configured vs suggested LR")
        ab_axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)


@dataclass(frozen=True)
class _Panel:
    """A plotting area: its pixel box and its data ranges (x in log10 when `log`)."""

    top: int
    bottom: int
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> int:
        return LEFT + round((x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT - 1))

    def py(self, y: float) -> int:
        return self.top + round((self.y1 - y) / (self.y1 - self.y0) * (self.bottom - self.top))


def _panel(top: int, bottom: int, xs: list[float], ys: list[float]) -> _Panel:
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    return _Panel(top, bottom, x0, x1 if x1 > x0 else x0 + 1, y0, y1 if y1 > y0 else y0 + 1)


def _draw(data: PlotData) -> bytes:
    pixels = [bytearray(bytes(WHITE) * WIDTH) for _ in range(HEIGHT)]
    bottom = HEIGHT - 44 if not data.ab else 330
    curves = [
        [(math.log10(x), y) for x, y in zip(lrs, losses, strict=False) if math.isfinite(y)]
        for lrs, losses in data.sweeps
    ]
    all_lrs = [math.log10(x) for lrs, _ in data.sweeps for x in lrs]
    panel = _panel(40, bottom, all_lrs, [y for c in curves for _, y in c])
    _text(pixels, data.title, LEFT, 8, BLACK)
    _axes(pixels, panel, "learning rate", "loss (smoothed)")
    for decade in range(math.ceil(panel.x0), math.floor(panel.x1) + 1):
        _line(pixels, panel.px(decade), panel.top, panel.px(decade), panel.bottom, GREY)
        _text(pixels, f"1e{decade}", panel.px(decade) - 8, panel.bottom + 6, BLACK)
    legend = []
    for lr, colour, name in (
        (data.suggested, GREEN, "suggested"),
        (data.configured, RED, "configured"),
    ):
        if lr and panel.x0 <= math.log10(lr) <= panel.x1:
            x = panel.px(math.log10(lr))
            _line(pixels, x, panel.top, x, panel.bottom, colour)
        if lr:
            legend.append((colour, f"{name} {lr:.2g}"))
    for index, points in enumerate(curves):
        colour = SWEEP_COLOURS[min(index, len(SWEEP_COLOURS) - 1)]
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            _line(pixels, panel.px(ax), panel.py(ay), panel.px(bx), panel.py(by), colour)
        legend.insert(index, (colour, f"sweep {index + 1}"))
    _legend(pixels, legend, panel)
    if data.ab:
        _ab_panel(pixels, data.ab, bottom + 60)
    return _png(pixels)


def _ab_panel(pixels: list[bytearray], ab: dict[str, list[float]], top: int) -> None:
    series = {k: [v for v in losses if math.isfinite(v)] for k, losses in ab.items()}
    steps = max((len(v) for v in series.values()), default=1)
    panel = _panel(top, HEIGHT - 40, [1.0, float(steps)], [v for s in series.values() for v in s])
    _text(pixels, "A/B run: configured vs suggested LR", LEFT, top - 24, BLACK)
    _axes(pixels, panel, "step", "loss")
    legend = []
    for name, losses in series.items():
        colour = RED if name == "configured" else GREEN
        for (ax, ay), (bx, by) in itertools.pairwise(enumerate(losses, start=1)):
            _line(pixels, panel.px(ax), panel.py(ay), panel.px(bx), panel.py(by), colour)
        legend.append((colour, name))
    _legend(pixels, legend, panel)


def _axes(pixels: list[bytearray], panel: _Panel, x_label: str, y_label: str) -> None:
    _line(pixels, LEFT, panel.bottom, WIDTH - RIGHT, panel.bottom, BLACK)
    _line(pixels, LEFT, panel.top, LEFT, panel.bottom, BLACK)
    for value in (panel.y0, panel.y1):
        _text(pixels, f"{value:.3g}"[:7], 2, panel.py(value) - 4, BLACK)
    _text(pixels, x_label, (WIDTH - 8 * len(x_label)) // 2, panel.bottom + 20, BLACK)
    _text(pixels, y_label, LEFT + 4, panel.top - 12, BLACK)


def _legend(pixels: list[bytearray], entries: list[tuple[Any, str]], panel: _Panel) -> None:
    """A framed legend in the upper right corner of the panel: a colour sample per entry."""
    width = 40 + 8 * max((len(label) for _, label in entries), default=0)
    x, y = WIDTH - RIGHT - width - 4, panel.top + 4
    height = 14 * len(entries) + 6
    for ax, ay, bx, by in (
        (x, y, x + width, y),
        (x, y + height, x + width, y + height),
        (x, y, x, y + height),
        (x + width, y, x + width, y + height),
    ):
        _line(pixels, ax, ay, bx, by, GREY)
    for index, (colour, label) in enumerate(entries):
        row = y + 6 + 14 * index
        for dy in (3, 4, 5):
            _line(pixels, x + 6, row + dy, x + 26, row + dy, colour)
        _text(pixels, label, x + 32, row, BLACK)


def _put(pixels: list[bytearray], x: int, y: int, colour: tuple[int, int, int]) -> None:
    if 0 <= x < WIDTH and 0 <= y < HEIGHT:
        pixels[y][3 * x : 3 * x + 3] = bytes(colour)


def _line(pixels, ax: int, ay: int, bx: int, by: int, colour) -> None:
    steps = max(abs(bx - ax), abs(by - ay), 1)
    for i in range(steps + 1):
        _put(pixels, ax + round((bx - ax) * i / steps), ay + round((by - ay) * i / steps), colour)


def _text(pixels, text: str, x: int, y: int, colour) -> None:
    """Text in the 3x5 font, drawn at twice the size (letters as capitals)."""
    for glyph in text:
        for row, bits in enumerate(GLYPHS.get(glyph.upper(), (0,) * 5)):
            for column in range(3):
                if bits & (4 >> column):
                    for dx in (0, 1):
                        for dy in (0, 1):
                            _put(pixels, x + 2 * column + dx, y + 2 * row + dy, colour)
        x += 8


def _png(pixels: list[bytearray]) -> bytes:
    """An 8-bit RGB PNG of the rows, each led by filter type 0."""
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", WIDTH, HEIGHT, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
