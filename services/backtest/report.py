"""Self-contained HTML backtest report: inline SVG charts drawn here, no scripts, no CDN.

Charts: equity, drawdown, the spread and its z-score with entries/exits marked, and a heatmap
of the optimisation objective over two grid parameters; then a metrics table. The output is
one string; writing it somewhere is the caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from services.backtest.metrics import drawdown_matrix
from services.backtest.report_svg import (
    PAD_L,
    PAD_T,
    WIDTH,
    colour_scale,
    line_chart,
)
from services.backtest.report_svg import format_metric as format_metric  # the CLI's import
from services.backtest.report_tearsheet import TearsheetInput, split_bands, tearsheet_sections
from services.backtest.walkforward.version import combo_params

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Heatmap:
    """Objective values on a (y, x) grid of two parameters; NaN where no combo exists."""

    values: FloatArray
    x_name: str
    y_name: str
    x_values: tuple[float, ...]
    y_values: tuple[float, ...]
    objective: str

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.y_values), len(self.x_values)):
            raise ValueError(
                f"heatmap values shape {self.values.shape} != "
                f"({len(self.y_values)} {self.y_name}, {len(self.x_values)} {self.x_name})"
            )


@dataclass(frozen=True)
class ReportInput:
    title: str
    returns: FloatArray
    spread: FloatArray
    z_score: FloatArray
    entries: Sequence[int]
    exits: Sequence[int]
    metrics: Mapping[str, Mapping[str, float]]
    heatmap: Heatmap | None = None
    bar_labels: Sequence[str] | None = None
    z_thresholds: Sequence[float] = field(default_factory=tuple)
    tearsheet: TearsheetInput | None = None


def objective_surface(
    objective_values: npt.ArrayLike,
    combos: Sequence[Any],
    x_param: str,
    y_param: str,
    objective: str = "sharpe",
) -> Heatmap:
    """Best objective value for each (x, y) pair, maximised over the other grid parameters."""
    values = np.asarray(objective_values, dtype=np.float64)
    if values.shape != (len(combos),):
        raise ValueError(f"{values.shape[0]} objective values for {len(combos)} combos")
    params = [combo_params(c) for c in combos]
    for name in (x_param, y_param):
        if params and name not in params[0]:
            raise ValueError(f"unknown grid parameter {name!r}; have {', '.join(params[0])}")
    xs = tuple(sorted({float(p[x_param]) for p in params}))
    ys = tuple(sorted({float(p[y_param]) for p in params}))
    grid = np.full((len(ys), len(xs)), np.nan)
    for p, v in zip(params, values, strict=True):
        cell = (ys.index(float(p[y_param])), xs.index(float(p[x_param])))
        if not np.isnan(v) and not v <= grid[cell]:
            grid[cell] = v
    return Heatmap(grid, x_param, y_param, xs, ys, objective)


def heatmap_chart(heatmap: Heatmap) -> str:
    """Cells coloured by objective value (NaN grey), each labelled with its value."""
    rows, cols = heatmap.values.shape
    cell_w = (WIDTH - 2 * PAD_L) / max(cols, 1)
    cell_h = 34.0
    height = int(PAD_T + rows * cell_h + 60)
    finite = heatmap.values[np.isfinite(heatmap.values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = high - low if high > low else 1.0
    title = f"{heatmap.objective} by {heatmap.y_name} (rows) and {heatmap.x_name} (columns)"
    body = [f'<text x="{PAD_L}" y="18" class="title">{escape(title)}</text>']
    for r in range(rows):
        y = PAD_T + r * cell_h
        body.append(
            f'<text x="{PAD_L - 6}" y="{y + cell_h / 2 + 4:.1f}" class="tick" text-anchor="end">'
            f"{escape(f'{heatmap.y_values[r]:g}')}</text>"
        )
        for c in range(cols):
            v = float(heatmap.values[r, c])
            fill = colour_scale((v - low) / span) if math.isfinite(v) else "#d0d0d0"
            ink = "#000" if not math.isfinite(v) or (v - low) / span > 0.6 else "#fff"
            x = PAD_L + c * cell_w
            body.append(
                f'<rect class="cell" x="{x:.1f}" y="{y:.1f}" width="{cell_w:.1f}" '
                f'height="{cell_h:.1f}" fill="{fill}"/>'
                f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" class="value" '
                f'fill="{ink}" text-anchor="middle">'
                f"{escape(format_metric(heatmap.objective, v))}</text>"
            )
    for c in range(cols):
        body.append(
            f'<text x="{PAD_L + (c + 0.5) * cell_w:.1f}" y="{PAD_T + rows * cell_h + 16:.1f}" '
            f'class="tick" text-anchor="middle">{escape(f"{heatmap.x_values[c]:g}")}</text>'
        )
    body.append(
        f'<text x="{WIDTH / 2:.1f}" y="{PAD_T + rows * cell_h + 36:.1f}" class="tick" '
        f'text-anchor="middle">{escape(heatmap.x_name)} (colour: {escape(heatmap.objective)} '
        f"{escape(format_metric(heatmap.objective, low))} to "
        f"{escape(format_metric(heatmap.objective, high))})</text>"
    )
    return (
        f'<svg id="heatmap" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">' + "".join(body) + "</svg>"
    )


def metrics_table(metrics: Mapping[str, Mapping[str, float]]) -> str:
    """Rows = metric names (union, first-seen order), columns = metric sets (e.g. IS / OOS)."""
    names: list[str] = []
    for column in metrics.values():
        names.extend(n for n in column if n not in names)
    head = "".join(f"<th>{escape(c)}</th>" for c in metrics)
    rows = "".join(
        f'<tr><th scope="row">{escape(n)}</th>'
        + "".join(
            f'<td data-metric="{escape(n)}">'
            f"{escape(format_metric(n, float(col.get(n, math.nan))))}</td>"
            for col in metrics.values()
        )
        + "</tr>"
        for n in names
    )
    return (
        f'<table id="metrics"><thead><tr><th>metric</th>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


_STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
.chart{display:block;margin:8px 0 20px}.frame{fill:none;stroke:#999}
.series{fill:none;stroke-width:1.2}.title{font-size:14px;font-weight:600}
.tick{font-size:11px;fill:#555}.value{font-size:11px}
.threshold{stroke:#888;stroke-dasharray:4 3}.entry{fill:#1a9850}
.exit{stroke:#d73027;stroke-width:2;fill:none}
table{border-collapse:collapse;margin:8px 0 20px}
td,th{border:1px solid #ccc;padding:3px 10px;text-align:right;white-space:nowrap}
#monthly-returns td,#monthly-returns th{padding:2px 5px;font-size:12px}
th[scope=row],td.text{text-align:left}td.pos{background:#e5f5e0}td.neg{background:#fde0dd}
.band.out_of_sample,rect.out_of_sample{fill:#2c7fb8;fill-opacity:.15}
.band.in_sample{fill:#999;fill-opacity:.12}
rect.in_sample{fill:#bbb}.in_sample_text{fill:#999}.out_of_sample_text{fill:#2c7fb8}
#splits rect.out_of_sample{fill-opacity:.8}"""


def _equity_chart(
    returns: FloatArray, labels: Sequence[str] | None, tearsheet: TearsheetInput | None
) -> str:
    """Equity with the benchmark's beside it and the out-of-sample windows shaded."""
    series = [("strategy", _equity(returns), "#2c7fb8")]
    bands = []
    if tearsheet is not None:
        if tearsheet.benchmark is not None:
            series.append((tearsheet.benchmark_name, _equity(tearsheet.benchmark), "#999999"))
        bands = split_bands(tearsheet.splits, labels)
    title = "Equity (start = 1)" + ("; shaded: out-of-sample test windows" if bands else "")
    return line_chart("equity", title, series, labels=labels, bands=bands)


def _equity(returns: FloatArray) -> FloatArray:
    out: FloatArray = np.cumprod(1.0 + np.nan_to_num(returns, nan=0.0)).astype(np.float64)
    return out


def render_report(data: ReportInput) -> str:
    """The whole report as one HTML document."""
    returns = np.asarray(data.returns, dtype=np.float64)
    spread = np.asarray(data.spread, dtype=np.float64)
    z_score = np.asarray(data.z_score, dtype=np.float64)
    if not returns.shape == spread.shape == z_score.shape or returns.ndim != 1:
        raise ValueError(
            f"returns, spread and z_score must be 1-D and equally long, got "
            f"{returns.shape}, {spread.shape}, {z_score.shape}"
        )
    if data.bar_labels is not None and len(data.bar_labels) != returns.size:
        raise ValueError(f"{len(data.bar_labels)} bar labels for {returns.size} bars")
    drawdown = drawdown_matrix(returns[:, None])[1:, 0]
    labels = data.bar_labels
    thresholds = sorted({*data.z_thresholds, *(-t for t in data.z_thresholds)})
    sections = [
        ("Equity", _equity_chart(returns, labels, data.tearsheet)),
        (
            "Drawdown",
            line_chart(
                "drawdown",
                "Drawdown from peak",
                [("drawdown", drawdown, "#d73027")],
                labels=labels,
                pct=True,
            ),
        ),
        (
            "Spread",
            line_chart(
                "spread",
                "Spread with entries (▲) and exits (✕)",
                [("spread", spread, "#444")],
                labels=labels,
                entries=data.entries,
                exits=data.exits,
            ),
        ),
        (
            "Z-score",
            line_chart(
                "zscore",
                "Spread z-score with thresholds",
                [("z-score", z_score, "#7b3294")],
                labels=labels,
                entries=data.entries,
                exits=data.exits,
                hlines=thresholds,
            ),
        ),
    ]
    if data.heatmap is not None:
        sections.append(("Objective heatmap", heatmap_chart(data.heatmap)))
    sections.append(("Metrics", metrics_table(data.metrics)))
    if data.tearsheet is not None:
        setup, *rest = tearsheet_sections(returns, labels, data.tearsheet)
        sections = [setup, *sections, *rest]
    body = "".join(f"<section><h2>{escape(h)}</h2>{svg}</section>" for h, svg in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(data.title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(data.title)}</h1>{body}</body></html>"
    )
