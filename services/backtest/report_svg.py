"""SVG building blocks of the HTML reports: line charts with markers, bands and thresholds.

Drawn here as plain strings: the reports are self-contained files with no scripts and no CDN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

WIDTH, HEIGHT, PAD_L, PAD_R, PAD_T, PAD_B = 900, 240, 70, 20, 28, 36
PERCENT_METRICS = frozenset(
    {"total_return", "cagr", "annual_volatility", "max_drawdown", "win_rate", "exposure"}
)
# Viridis anchor colours: perceptually ordered, readable for colour-blind viewers.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


@dataclass(frozen=True)
class Band:
    """Bars [start, end) shaded on a chart; kind is the CSS class (in_sample/out_of_sample)."""

    start: int
    end: int
    kind: str
    label: str


def format_metric(name: str, value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if name in PERCENT_METRICS:
        return f"{100.0 * value:.2f} %"
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{int(value):d}"
    return f"{value:.4g}"


def colour_scale(t: float) -> str:
    t = min(max(t, 0.0), 1.0) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    r, g, bl = (round(a[k] + (b[k] - a[k]) * (t - i)) for k in range(3))
    return f"#{r:02x}{g:02x}{bl:02x}"


def _y_range(arrays: Sequence[FloatArray], extra: Sequence[float] = ()) -> tuple[float, float]:
    finite = [a[np.isfinite(a)] for a in arrays]
    pool = np.concatenate([*finite, np.asarray(extra, dtype=np.float64)])
    if pool.size == 0:
        return 0.0, 1.0
    low, high = float(pool.min()), float(pool.max())
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    margin = 0.05 * (high - low)
    return low - margin, high + margin


class _Plot:
    """Maps bar index / value to SVG coordinates for one chart."""

    def __init__(self, n: int, low: float, high: float) -> None:
        self.n, self.low, self.high = max(n, 2), low, high

    def x(self, i: float) -> float:
        return PAD_L + (WIDTH - PAD_L - PAD_R) * i / (self.n - 1)

    def y(self, v: float) -> float:
        return PAD_T + (HEIGHT - PAD_T - PAD_B) * (self.high - v) / (self.high - self.low)

    def path(self, values: FloatArray) -> str:
        parts: list[str] = []
        pen_down = False
        for i, v in enumerate(values):
            if not math.isfinite(v):
                pen_down = False
                continue
            parts.append(f"{'L' if pen_down else 'M'}{self.x(i):.1f},{self.y(v):.1f}")
            pen_down = True
        return "".join(parts)


def _axes(plot: _Plot, title: str, labels: Sequence[str] | None, pct: bool) -> list[str]:
    out = [
        f'<text x="{PAD_L}" y="18" class="title">{escape(title)}</text>',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{WIDTH - PAD_L - PAD_R}" '
        f'height="{HEIGHT - PAD_T - PAD_B}" class="frame"/>',
    ]
    for k in range(5):
        v = plot.low + (plot.high - plot.low) * k / 4
        text = f"{100 * v:.1f} %" if pct else f"{v:.3g}"
        out.append(
            f'<text x="{PAD_L - 6}" y="{plot.y(v) + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(text)}</text>"
        )
    for k in range(5):
        i = round((plot.n - 1) * k / 4)
        text = labels[i] if labels is not None and i < len(labels) else str(i)
        out.append(
            f'<text x="{plot.x(i):.1f}" y="{HEIGHT - 12}" class="tick" text-anchor="middle">'
            f"{escape(text)}</text>"
        )
    return out


def line_chart(
    chart_id: str,
    title: str,
    series: Sequence[tuple[str, FloatArray, str]],
    *,
    labels: Sequence[str] | None = None,
    entries: Sequence[int] = (),
    exits: Sequence[int] = (),
    hlines: Sequence[float] = (),
    pct: bool = False,
    bands: Sequence[Band] = (),
) -> str:
    """An SVG line chart; entries are green up-triangles, exits red crosses on series 0;
    bands shade bar ranges behind the lines (e.g. out-of-sample test windows)."""
    arrays = [np.asarray(s[1], dtype=np.float64) for s in series]
    low, high = _y_range(arrays, hlines)
    plot = _Plot(len(arrays[0]), low, high)
    body = _axes(plot, title, labels, pct)
    for band in bands:
        x0, x1 = plot.x(band.start), plot.x(max(band.end - 1, band.start))
        body.append(
            f'<rect class="band {escape(band.kind)}" x="{x0:.1f}" y="{PAD_T}" '
            f'width="{max(x1 - x0, 1.0):.1f}" height="{HEIGHT - PAD_T - PAD_B}">'
            f"<title>{escape(band.label)}</title></rect>"
        )
    for level in hlines:
        body.append(
            f'<line x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{plot.y(level):.1f}" '
            f'y2="{plot.y(level):.1f}" class="threshold"/>'
        )
    for (name, _, colour), values in zip(series, arrays, strict=True):
        body.append(
            f'<path d="{plot.path(values)}" stroke="{colour}" class="series">'
            f"<title>{escape(name)}</title></path>"
        )
    if len(series) > 1:
        # Right-aligned, laid out from the right edge by an estimate of each name's width.
        lx = float(WIDTH - PAD_R)
        for name, _, colour in reversed(series):
            lx -= 6.2 * len(name) + 28
            body.append(
                f'<rect x="{lx:.0f}" y="8" width="12" height="3" fill="{colour}"/>'
                f'<text x="{lx + 16:.0f}" y="14" class="tick legend">{escape(name)}</text>'
            )
    first = arrays[0]
    for i in entries:
        if 0 <= i < len(first) and math.isfinite(first[i]):
            x, y = plot.x(i), plot.y(first[i])
            body.append(
                f'<path class="entry" d="M{x:.1f},{y - 6:.1f}L{x - 5:.1f},{y + 4:.1f}'
                f'L{x + 5:.1f},{y + 4:.1f}Z"><title>entry, bar {i}</title></path>'
            )
    for i in exits:
        if 0 <= i < len(first) and math.isfinite(first[i]):
            x, y = plot.x(i), plot.y(first[i])
            body.append(
                f'<path class="exit" d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}'
                f'M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}">'
                f"<title>exit, bar {i}</title></path>"
            )
    return (
        f'<svg id="{chart_id}" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">' + "".join(body) + "</svg>"
    )
