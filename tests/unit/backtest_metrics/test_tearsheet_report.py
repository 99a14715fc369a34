"""The backtest and walk-forward reports carry the tearsheet: setup, risk and benchmark,
monthly and yearly returns, rolling charts, drawdowns, walk-forward splits and trades."""

from __future__ import annotations

import re
from functools import cache

import empyrical as ep
import numpy as np
import pandas as pd
import pytest

from services.backtest.domain.compute import JobResult, run_job
from services.backtest.domain.requests import parse_request
from services.backtest.metrics_tearsheet import buy_and_hold
from services.backtest.report_tearsheet import TearsheetInput, risk_statistics, sample_mask
from services.backtest.walkforward.splits import make_splits
from shared.events import BacktestRequested
from tests.data import msft_ibm_closes

GRID = {"entry_z": [1.5, 2.0], "exit_z": [0.0, 0.5], "lookback": [20, 60]}
COSTS = {"commission_bps": 1.5, "slippage_bps": 2.0, "borrow_bps": 30.0}
TOL = 1e-10


@cache
def _job(kind: str) -> tuple[JobResult, pd.DataFrame]:
    closes = msft_ibm_closes(900)
    options = {"train_bars": 300, "test_bars": 120, "regimes": "none"} if kind != "backtest" else {}
    spec = parse_request(
        BacktestRequested(
            request_id=f"ts-{kind}",
            kind=kind,
            a="MSFT",
            b="IBM",
            grid=GRID,
            costs=COSTS,
            options=options,
        )
    )
    return run_job(spec, closes), closes


def _section(html: str, heading_start: str) -> str:
    match = re.search(rf"<h2>{re.escape(heading_start)}[^<]*</h2>(.*?)</section>", html, re.S)
    assert match, f"no section {heading_start!r}"
    return match.group(1)


def _returns(result: JobResult) -> np.ndarray:
    equity = np.array([e for _, e, _ in result.equity])
    return np.r_[equity[0] - 1.0, equity[1:] / equity[:-1] - 1.0]


def test_backtest_report_states_its_setup_and_lists_every_trade() -> None:
    result, closes = _job("backtest")
    html = result.report_html
    setup = _section(html, "Setup")
    first, last = closes.index[0].date(), closes.index[-1].date()
    assert f"{first} to {last}, 900 aligned 1d bars" in setup
    for key, value in result.best_params.items():
        shown = f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
        assert shown in setup
    assert "commission 1.5 bps, slippage 2 bps" in setup and "borrow 30 bps" in setup
    assert "rolling OLS" in setup and "next_close: signal on bar t" in setup
    trades = _section(html, "Trades")
    assert trades.count('<tr class="trade">') == result.n_trades > 0
    assert f"<p>{result.n_trades} trades.</p>" in trades
    # A plain backtest picked its parameters on these bars: its statistics say so.
    assert "<h2>Risk and benchmark (in-sample)</h2>" in html
    assert "equal-weight buy-and-hold of MSFT and IBM" in html


def test_monthly_and_yearly_cells_equal_empyrical_aggregate_returns() -> None:
    result, closes = _job("backtest")
    series = pd.Series(_returns(result), index=closes.index)
    table = _section(result.report_html, "Monthly and yearly returns")
    months = dict(re.findall(r'data-month="(\d{4}-\d\d)">(-?[\d.]+) %', table))
    expected = ep.aggregate_returns(series, "monthly")
    assert len(months) == len(expected)
    for (year, month), value in expected.items():
        assert float(months[f"{year}-{month:02d}"]) == pytest.approx(100 * value, abs=0.0051)
    years = dict(re.findall(r'data-year="(\d{4})">(-?[\d.]+) %', table))
    for year, value in ep.aggregate_returns(series, "yearly").items():
        assert float(years[str(year)]) == pytest.approx(100 * value, abs=0.0051)


def test_risk_and_benchmark_statistics_equal_empyrical_on_the_report_sample() -> None:
    result, closes = _job("backtest")
    r = _returns(result)
    a, b = closes["MSFT"].to_numpy(), closes["IBM"].to_numpy()
    bench = buy_and_hold(a, b)
    splits = make_splits(r.size, 300, 120, None, "rolling")
    for chosen in ((), splits):
        t = TearsheetInput(setup={}, benchmark=bench, splits=chosen)
        stats = risk_statistics(r, t)
        mask = sample_mask(r.size, chosen)
        rs, ms = r[mask], bench[mask]
        assert stats["var_95"] == pytest.approx(ep.value_at_risk(rs, 0.05), abs=TOL)
        assert stats["cvar_99"] == pytest.approx(ep.conditional_value_at_risk(rs, 0.01), abs=TOL)
        alpha, beta = ep.alpha_beta(rs, ms, annualization=252)
        assert stats["alpha"] == pytest.approx(alpha, abs=TOL)
        assert stats["beta"] == pytest.approx(beta, abs=TOL)
        assert stats["benchmark_sharpe"] == pytest.approx(ep.sharpe_ratio(ms), abs=TOL)
        assert stats["benchmark_total_return"] == pytest.approx(ep.cum_returns_final(ms), abs=TOL)
    assert mask.sum() == sum(s.test_bars for s in splits)


def test_walk_forward_report_marks_splits_and_labels_out_of_sample() -> None:
    result, closes = _job("walk_forward")
    html = result.report_html
    n_splits = int(result.metrics["n_splits"])
    assert n_splits >= 2
    assert html.count('class="band out_of_sample"') == n_splits
    table = _section(html, "Walk-forward splits")
    assert table.count("<td>in-sample</td>") == table.count("<td>out-of-sample</td>") == n_splits
    assert table.count('<rect class="in_sample"') == n_splits
    for h in ("Risk and benchmark", "Monthly and yearly returns", "Top drawdowns"):
        assert f"<h2>{h} (out-of-sample)</h2>" in html
    assert f"{n_splits} rolling splits: train 300 bars (in-sample), test 120" in html
    # The first bars are only ever trained on: no month of them in the out-of-sample table.
    first_month = closes.index[0].strftime("%Y-%m")
    assert f'data-month="{first_month}"' not in _section(html, "Monthly and yearly returns")
    assert 'id="rolling-sharpe"' in html and 'id="rolling-volatility"' in html
    assert '<table id="drawdowns">' in html
