"""The LR finder's plot as a PNG: loss against learning rate (log scale), the suggestion in
green and the configured LR in red. Uses matplotlib when it is installed, else draws the
plot itself and writes the PNG with zlib (no extra dependency)."""

from __future__ import annotations

import importlib.util
import itertools
import math
import os
import struct
import tempfile
import zlib
from pathlib import Path

WIDTH, HEIGHT = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 40
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
BLUE, GREEN, RED = (31, 119, 180), (44, 160, 44), (214, 39, 40)

# 3x5 glyphs for the tick labels: rows top to bottom, 3 bits each (4 = left column).
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
    "e": (0, 7, 5, 6, 3),
    "-": (0, 0, 7, 0, 0),
    ".": (0, 0, 0, 0, 2),
}


def write_plot(
    path: Path,
    lrs: list[float],
    losses: list[float],
    suggested: float | None,
    configured: float | None,
) -> None:
    """Write the plot of `losses` (finite ones) against `lrs` to `path`. Matplotlib's
    font cache goes to a temporary folder, removed after: nothing is written but the plot."""
    if importlib.util.find_spec("matplotlib") is None:
        path.write_bytes(_draw(lrs, losses, suggested, configured))
        return
    saved = os.environ.get("MPLCONFIGDIR")
    with tempfile.TemporaryDirectory(prefix="nnlint-matplotlib-") as scratch:
        os.environ["MPLCONFIGDIR"] = scratch
        try:
            import matplotlib  # noqa: PLC0415 - optional

            _matplotlib(matplotlib, path, lrs, losses, suggested, configured)
        finally:
            if saved is None:
                os.environ.pop("MPLCONFIGDIR", None)
            else:
                os.environ["MPLCONFIGDIR"] = saved


def _matplotlib(matplotlib, path, lrs, losses, suggested, configured) -> None:
    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415

    figure, axes = pyplot.subplots(figsize=(6.4, 4.0))
    points = [(x, y) for x, y in zip(lrs, losses, strict=False) if math.isfinite(y)]
    axes.plot([p[0] for p in points], [p[1] for p in points], color="tab:blue", label="loss")
    if suggested:
        axes.axvline(suggested, color="tab:green", label=f"suggested {suggested:.2g}")
    if configured:
        axes.axvline(configured, color="tab:red", label=f"configured {configured:.2g}")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (smoothed)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png")
    pyplot.close(figure)


def _draw(
    lrs: list[float], losses: list[float], suggested: float | None, configured: float | None
) -> bytes:
    pixels = [bytearray(bytes(WHITE) * WIDTH) for _ in range(HEIGHT)]
    points = [(math.log10(x), y) for x, y in zip(lrs, losses, strict=False) if math.isfinite(y)]
    x0, x1 = math.log10(min(lrs)), math.log10(max(lrs))
    if x1 <= x0:
        x1 = x0 + 1
    ys = [y for _, y in points] or [0.0, 1.0]
    y0, y1 = min(ys), max(ys)
    if y1 <= y0:
        y1 = y0 + 1

    def px(x: float) -> int:
        return LEFT + round((x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT - 1))

    def py(y: float) -> int:
        return TOP + round((y1 - y) / (y1 - y0) * (HEIGHT - TOP - BOTTOM - 1))

    for decade in range(math.ceil(x0), math.floor(x1) + 1):
        _line(pixels, px(decade), TOP, px(decade), HEIGHT - BOTTOM, GREY)
        _text(pixels, f"1e{decade}", px(decade) - 8, HEIGHT - BOTTOM + 8, BLACK)
    _line(pixels, LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, HEIGHT - BOTTOM, BLACK)
    _line(pixels, LEFT, TOP, LEFT, HEIGHT - BOTTOM, BLACK)
    for value in (y0, y1):
        _text(pixels, f"{value:.3g}"[:6], 4, py(value) - 3, BLACK)
    for lr, colour in ((suggested, GREEN), (configured, RED)):
        if lr and x0 <= math.log10(lr) <= x1:
            _line(pixels, px(math.log10(lr)), TOP, px(math.log10(lr)), HEIGHT - BOTTOM, colour)
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        _line(pixels, px(ax), py(ay), px(bx), py(by), BLUE)
    return _png(pixels)


def _put(pixels: list[bytearray], x: int, y: int, colour: tuple[int, int, int]) -> None:
    if 0 <= x < WIDTH and 0 <= y < HEIGHT:
        pixels[y][3 * x : 3 * x + 3] = bytes(colour)


def _line(pixels, ax: int, ay: int, bx: int, by: int, colour) -> None:
    steps = max(abs(bx - ax), abs(by - ay), 1)
    for i in range(steps + 1):
        _put(pixels, ax + round((bx - ax) * i / steps), ay + round((by - ay) * i / steps), colour)


def _text(pixels, text: str, x: int, y: int, colour) -> None:
    """Tick labels in the 3x5 font, drawn at twice the size."""
    for glyph in text:
        for row, bits in enumerate(GLYPHS.get(glyph, (0,) * 5)):
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
