"""Tearsheet sections of the backtest report, the tables a quant expects from quantstats or
pyfolio: the setup that produced the run, tail risk and a benchmark with alpha/beta, monthly
and yearly returns, rolling Sharpe and volatility, the deepest drawdowns, the walk-forward
splits and the trade list.

Statistics are computed on the sample the report is about and say which it is: a walk-forward
book on its out-of-sample bars (the test windows), a plain backtest on all bars, which are
in-sample because its parameters were chosen on them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from services.backtest.metrics_tearsheet import (
    alpha_beta,
    compounded_by_period,
    conditional_value_at_risk,
    drawdown_episodes,
    rolling_sharpe,
    rolling_volatility,
    value_at_risk,
)
from services.backtest.report_svg import PAD_L, PAD_R, WIDTH, Band, line_chart
from services.backtest.walkforward.splits import Split

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MAX_TRADE_ROWS = 1000


@dataclass(frozen=True)
class TearsheetInput:
    """What the tearsheet needs beyond the report's returns and bar labels (YYYY-MM-DD...)."""

    setup: Mapping[str, str]
    trades: Sequence[Mapping[str, Any]] = ()
    benchmark: FloatArray | None = None  # per-bar returns aligned with the report's returns
    benchmark_name: str = "benchmark"
    splits: Sequence[Split] = ()
    periods_per_year: float = 252.0
    rolling_window: int = 126
    var_cutoffs: tuple[float, ...] = field(default=(0.05, 0.01))
    top_drawdowns: int = 5

    @property
    def sample_name(self) -> str:
        return "out-of-sample" if self.splits else "in-sample"


def sample_mask(n_bars: int, splits: Sequence[Split]) -> BoolArray:
    """Bars the statistics cover: the test windows of a walk-forward, else every bar."""
    if not splits:
        return np.ones(n_bars, dtype=np.bool_)
    mask = np.zeros(n_bars, dtype=np.bool_)
    for s in splits:
        mask[s.test_start : s.test_end] = True
    return mask


def risk_statistics(returns: FloatArray, t: TearsheetInput) -> dict[str, float]:
    """VaR/CVaR per cutoff and, with a benchmark, alpha, beta and its own return and Sharpe."""
    mask = sample_mask(returns.size, t.splits)
    r = returns[mask]
    out: dict[str, float] = {}
    for cutoff in t.var_cutoffs:
        level = f"{100 * (1 - cutoff):g}"
        out[f"var_{level}"] = value_at_risk(r, cutoff)
        out[f"cvar_{level}"] = conditional_value_at_risk(r, cutoff)
    if t.benchmark is not None:
        bench = np.asarray(t.benchmark, dtype=np.float64)
        if bench.shape != returns.shape:
            raise ValueError(f"benchmark {bench.shape} and returns {returns.shape} differ")
        m = bench[mask]
        out["alpha"], out["beta"] = alpha_beta(r, m, t.periods_per_year)
        out["benchmark_total_return"] = float(np.prod(1.0 + np.nan_to_num(m)) - 1.0)
        std = float(np.nanstd(m, ddof=1)) if m.size > 1 else math.nan
        out["benchmark_sharpe"] = (
            float(np.nanmean(m) / std * math.sqrt(t.periods_per_year)) if std > 0 else math.nan
        )
    return out


def _pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100.0 * value:.2f} %"


def _signed_cell(value: float, attrs: str = "") -> str:
    kind = "pos" if value > 0 else "neg" if value < 0 else "flat"
    return f'<td class="{kind}"{attrs}>{_pct(value)}</td>'


def setup_table(setup: Mapping[str, str]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{escape(k)}</th><td class="text">{escape(v)}</td></tr>'
        for k, v in setup.items()
    )
    return f'<table id="setup"><tbody>{rows}</tbody></table>'


def _risk_label(key: str) -> str:
    if key.startswith(("var_", "cvar_")):
        kind, level = key.split("_")
        return f"{kind.upper().replace('CVAR', 'CVaR').replace('VAR', 'VaR')} {level} % (one bar)"
    return {
        "alpha": "alpha (annualised)",
        "beta": "beta to the benchmark",
        "benchmark_total_return": "benchmark total return",
        "benchmark_sharpe": "benchmark Sharpe",
    }.get(key, key)


def risk_table(stats: Mapping[str, float], t: TearsheetInput) -> str:
    pct_keys = {"alpha", "benchmark_total_return"} | {k for k in stats if "var_" in k}
    rows = "".join(
        f'<tr><th scope="row">{escape(_risk_label(k))}</th><td data-metric="{escape(k)}">'
        f"{_pct(v) if k in pct_keys else (f'{v:.4g}' if math.isfinite(v) else 'n/a')}</td></tr>"
        for k, v in stats.items()
    )
    bench = f"<p>Benchmark: {escape(t.benchmark_name)}.</p>" if t.benchmark is not None else ""
    return f'{bench}<table id="risk"><tbody>{rows}</tbody></table>'


def periodic_tables(returns: FloatArray, labels: Sequence[str]) -> str:
    """Monthly returns (years x months) with each year's compounded return in the last column."""
    years = np.array([int(x[:4]) for x in labels], dtype=np.int64)
    months = np.array([int(x[5:7]) for x in labels], dtype=np.int64)
    month_keys, monthly = compounded_by_period(returns, years * 12 + months - 1)
    year_keys, yearly = compounded_by_period(returns, years)
    by_month = dict(zip(month_keys.tolist(), monthly.tolist(), strict=True))
    head = "".join(f"<th>{m}</th>" for m in MONTHS)
    body = []
    for year, year_return in zip(year_keys.tolist(), yearly.tolist(), strict=True):
        cells = "".join(
            _signed_cell(by_month[year * 12 + m], f' data-month="{year}-{m + 1:02d}"')
            if year * 12 + m in by_month
            else "<td></td>"
            for m in range(12)
        )
        yearly_cell = _signed_cell(year_return, f' data-year="{year}"')
        body.append(f'<tr><th scope="row">{year}</th>{cells}{yearly_cell}</tr>')
    return (
        f'<table id="monthly-returns"><thead><tr><th>year</th>{head}<th>Year</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def _rolling_charts(returns: FloatArray, labels: Sequence[str], t: TearsheetInput) -> str:
    w = t.rolling_window
    if returns.size < w:
        return f"<p>Fewer than {w} bars: no rolling window.</p>"
    pad = np.full(w - 1, np.nan)
    sharpe = np.r_[pad, rolling_sharpe(returns, w, t.periods_per_year)]
    vol = np.r_[pad, rolling_volatility(returns, w, t.periods_per_year)]
    return line_chart(
        "rolling-sharpe",
        f"Rolling Sharpe ratio ({w} bars, annualised)",
        [("rolling Sharpe", sharpe, "#2c7fb8")],
        labels=labels,
        hlines=(0.0,),
    ) + line_chart(
        "rolling-volatility",
        f"Rolling volatility ({w} bars, annualised)",
        [("rolling volatility", vol, "#d95f02")],
        labels=labels,
        pct=True,
    )


def drawdown_table(returns: FloatArray, labels: Sequence[str], top: int) -> str:
    def when(i: int | None) -> str:
        if i is None:
            return "not recovered"
        return "start" if i < 0 else escape(labels[i])

    rows = "".join(
        f"<tr><td>{k + 1}</td><td>{_pct(e.depth)}</td><td>{when(e.peak)}</td>"
        f"<td>{when(e.trough)}</td><td>{when(e.recovery)}</td>"
        f"<td>{'' if e.bars_underwater is None else e.bars_underwater}</td></tr>"
        for k, e in enumerate(drawdown_episodes(returns, top))
    )
    return (
        '<table id="drawdowns"><thead><tr><th>#</th><th>depth</th><th>peak</th><th>trough</th>'
        f"<th>recovery</th><th>bars</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def split_bands(splits: Sequence[Split], labels: Sequence[str] | None) -> list[Band]:
    def span(a: int, b: int) -> str:
        return f"{labels[a]} to {labels[b - 1]}" if labels else f"bars {a} to {b - 1}"

    bands = [
        Band(
            s.test_start,
            s.test_end,
            "out_of_sample",
            f"split {s.index} out-of-sample {span(s.test_start, s.test_end)}",
        )
        for s in splits
    ]
    first_test = min((s.test_start for s in splits), default=0)
    if first_test > 0:
        # Bars only ever trained on: the book holds no out-of-sample return there.
        bands.insert(0, Band(0, first_test, "in_sample", f"in-sample only {span(0, first_test)}"))
    return bands


def splits_section(splits: Sequence[Split], labels: Sequence[str], n_bars: int) -> str:
    """A timeline (one row per split: in-sample train window, out-of-sample test window)."""
    row_h, top = 10, 24
    height = top + row_h * len(splits) + 30
    span = WIDTH - PAD_L - PAD_R

    def x(i: int) -> float:
        return PAD_L + span * i / max(n_bars, 1)

    rects = []
    for k, s in enumerate(splits):
        y = top + k * row_h
        for start, end, kind in (
            (s.train_start, s.train_end, "in_sample"),
            (s.test_start, s.test_end, "out_of_sample"),
        ):
            rects.append(
                f'<rect class="{kind}" x="{x(start):.1f}" y="{y}" '
                f'width="{max(x(end) - x(start), 1.0):.1f}" height="{row_h - 2}">'
                f"<title>split {s.index} {kind.replace('_', '-')}: {escape(labels[start])} to "
                f"{escape(labels[end - 1])}</title></rect>"
            )
    legend = (
        f'<text x="{PAD_L}" y="16" class="title">Walk-forward splits: '
        '<tspan class="in_sample_text">■ in-sample (train)</tspan> '
        '<tspan class="out_of_sample_text">■ out-of-sample (test)</tspan></text>'
    )
    axis = (
        f'<text x="{PAD_L}" y="{height - 8}" class="tick">{escape(labels[0])}</text>'
        f'<text x="{WIDTH - PAD_R}" y="{height - 8}" class="tick" text-anchor="end">'
        f"{escape(labels[-1])}</text>"
    )
    svg = (
        f'<svg id="splits" class="chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="walk-forward splits">{legend}{"".join(rects)}{axis}</svg>'
    )
    rows = "".join(
        f"<tr><td>{s.index}</td><td>in-sample</td><td>{escape(labels[s.train_start])}</td>"
        f"<td>{escape(labels[s.train_end - 1])}</td><td>out-of-sample</td>"
        f"<td>{escape(labels[s.test_start])}</td><td>{escape(labels[s.test_end - 1])}</td></tr>"
        for s in splits
    )
    table = (
        '<table id="split-table"><thead><tr><th>split</th><th>train</th><th>from</th>'
        "<th>to</th><th>test</th><th>from</th><th>to</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return svg + table


def _when(value: Any) -> str:
    """An ISO time as its date when it is a daily bar's midnight; None: still open."""
    if value is None:
        return "open"
    text = str(value)
    return text[:10] if text[10:19] in ("", "T00:00:00") else text


def trades_table(trades: Sequence[Mapping[str, Any]], note: str = "") -> str:
    """One row per round trip; PnL (costs and borrow included) and costs as % of capital."""
    rows = []
    for t in trades[:MAX_TRADE_ROWS]:
        legs = ", ".join(f"{leg['symbol']} {leg['shares']:+.4g}" for leg in t.get("legs", ()))
        direction = {1: "long spread", -1: "short spread"}.get(t.get("direction", 0), "")
        rows.append(
            f'<tr class="trade"><td>{escape(_when(t.get("entry_time")))}</td>'
            f"<td>{escape(_when(t.get('exit_time')))}</td><td>{direction}</td>"
            f"<td>{escape(str(t.get('reason', '')))}</td><td class='text'>{escape(legs)}</td>"
            f"<td>{_pct(t.get('pnl'))}</td><td>{_pct(t.get('costs'))}</td></tr>"
        )
    more = f" First {MAX_TRADE_ROWS} shown." if len(trades) > MAX_TRADE_ROWS else ""
    summary = " ".join(x for x in (f"{len(trades)} trades.{more}", note) if x)
    return (
        f'<p>{escape(summary)}</p><table id="trades"><thead><tr>'
        "<th>entry</th><th>exit</th><th>direction</th><th>reason</th><th>legs (shares)</th>"
        "<th>PnL (% of capital)</th><th>costs</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def tearsheet_sections(
    returns: FloatArray, labels: Sequence[str] | None, t: TearsheetInput
) -> list[tuple[str, str]]:
    """(heading, html) of every tearsheet section, in reading order."""
    n = returns.size
    names = list(labels) if labels is not None else [str(i) for i in range(n)]
    mask = sample_mask(n, t.splits)
    sample, sample_labels = returns[mask], [x for x, m in zip(names, mask, strict=True) if m]
    tag = f" ({t.sample_name})"
    sections = [("Setup", setup_table(t.setup))]
    sections.append((f"Risk and benchmark{tag}", risk_table(risk_statistics(returns, t), t)))
    if labels is not None and sample.size:
        sections.append(
            (f"Monthly and yearly returns{tag}", periodic_tables(sample, sample_labels))
        )
    sections.append(
        (f"Rolling Sharpe and volatility{tag}", _rolling_charts(sample, sample_labels, t))
    )
    sections.append((f"Top drawdowns{tag}", drawdown_table(sample, sample_labels, t.top_drawdowns)))
    if t.splits and n:
        sections.append(("Walk-forward splits", splits_section(t.splits, names, n)))
    note = (
        "The chosen (latest) parameters run over the whole range: trades before the first "
        "test window are in-sample."
        if t.splits
        else ""
    )
    sections.append(("Trades", trades_table(t.trades, note)))
    return sections
