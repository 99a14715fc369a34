"""The HTML report renders every chart, marks every trade and shows the metric values."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from services.backtest.metrics import compute_metrics
from services.backtest.report import (
    ReportInput,
    format_metric,
    objective_surface,
    render_report,
)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: dict[str, list[str]] = {}
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag == "td":
            self._cell = attributes.get("data-metric")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.cells.setdefault(self._cell, []).append(data)

    def with_class(self, cls: str) -> list[dict[str, str | None]]:
        return [a for _, a in self.tags if cls in (a.get("class") or "").split()]


GRID = [
    {"entry_z": e, "exit_z": x, "lookback": lb}
    for e in (1.5, 2.0, 2.5)
    for x in (0.0, 0.5)
    for lb in (20, 60, 120, 250)
]


def _report_input() -> tuple[ReportInput, dict[str, float]]:
    rng = np.random.default_rng(1)
    n = 300
    spread = np.cumsum(rng.normal(0, 1, n)) * 0.1
    z = (spread - spread.mean()) / spread.std()
    returns = rng.normal(0.0005, 0.01, n)
    returns[:3] = np.nan
    entries, exits = [10, 80, 200], [40, 120, 260]
    sharpes = rng.normal(0.5, 0.4, len(GRID))
    metrics = compute_metrics(returns).column(0)
    data = ReportInput(
        title="KO~PEP walk-forward <test>",
        returns=returns,
        spread=spread,
        z_score=z,
        entries=entries,
        exits=exits,
        metrics={"in-sample": metrics, "out-of-sample": {"sharpe": 0.25, "n_trades": 7.0}},
        heatmap=objective_surface(sharpes, GRID, "lookback", "entry_z"),
        bar_labels=[f"2001-01-{i:04d}" for i in range(n)],
        z_thresholds=(2.0, 0.5),
    )
    return data, metrics


def test_report_has_every_chart_marker_and_number() -> None:
    data, metrics = _report_input()
    html = render_report(data)
    doc = _Collector()
    doc.feed(html)
    svg_ids = [a.get("id") for tag, a in doc.tags if tag == "svg"]
    assert svg_ids == ["equity", "drawdown", "spread", "zscore", "heatmap"]
    # Entries and exits are marked on both the spread and the z-score charts.
    assert len(doc.with_class("entry")) == 2 * len(data.entries)
    assert len(doc.with_class("exit")) == 2 * len(data.exits)
    assert len(doc.with_class("threshold")) == 4  # +/-2 and +/-0.5
    assert len(doc.with_class("cell")) == 3 * 4  # entry_z x lookback
    series = doc.with_class("series")
    assert len(series) == 4 and all((s.get("d") or "").startswith("M") for s in series)
    # One point per bar: the spread path joins all 300 bars.
    assert (series[2].get("d") or "").count("L") == 299
    # Metric values are shown, formatted, in the table.
    assert doc.cells["sharpe"] == [format_metric("sharpe", metrics["sharpe"]), "0.25"]
    assert doc.cells["max_drawdown"][0] == format_metric("max_drawdown", metrics["max_drawdown"])
    assert doc.cells["max_drawdown"][0].endswith(" %")
    assert doc.cells["n_trades"][1] == "7"
    assert doc.cells["win_rate"][1] == "n/a"  # missing in the second column
    # Self-contained: no scripts, no remote resources; the title is escaped.
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)
    assert "KO~PEP walk-forward &lt;test&gt;" in html
    assert "2001-01-0000" in html and "2001-01-0299" in html
    # Every chart is well-formed SVG on its own (browsers are lenient; other viewers are not).
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        assert ET.fromstring(svg).tag.endswith("svg")


def test_objective_surface_takes_the_best_over_other_parameters() -> None:
    values = np.arange(len(GRID), dtype=np.float64)
    values[0] = np.nan
    surface = objective_surface(values, GRID, "lookback", "entry_z")
    assert surface.x_values == (20.0, 60.0, 120.0, 250.0)
    assert surface.y_values == (1.5, 2.0, 2.5)
    for r, entry_z in enumerate(surface.y_values):
        for c, lookback in enumerate(surface.x_values):
            matching = [
                v
                for g, v in zip(GRID, values, strict=True)
                if g["entry_z"] == entry_z and g["lookback"] == lookback and not np.isnan(v)
            ]
            assert surface.values[r, c] == max(matching)
    with pytest.raises(ValueError, match="unknown grid parameter 'stop_z'"):
        objective_surface(values, GRID, "stop_z", "entry_z")


def test_format_and_input_validation() -> None:
    assert format_metric("sharpe", float("inf")) == "∞"
    assert format_metric("cagr", 0.1234) == "12.34 %"
    assert format_metric("sortino", float("nan")) == "n/a"
    data, _ = _report_input()
    bad = ReportInput(
        title="x",
        returns=data.returns[:10],
        spread=data.spread,
        z_score=data.z_score,
        entries=[],
        exits=[],
        metrics={},
    )
    with pytest.raises(ValueError, match="equally long"):
        render_report(bad)
