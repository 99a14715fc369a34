"""Tearsheet statistics agree with empyrical-reloaded 0.7.1 (and a plain-loop drawdown table
in pyfolio's manner) to 1e-10 on the same fixed series as the metric oracle tests."""

from __future__ import annotations

import empyrical as ep
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from services.backtest.metrics_tearsheet import (
    DrawdownEpisode,
    alpha_beta,
    buy_and_hold,
    compounded_by_period,
    conditional_value_at_risk,
    drawdown_episodes,
    rolling_sharpe,
    rolling_volatility,
    value_at_risk,
)
from tests.data import SP500_20_STOCKS, data_file
from tests.unit.backtest_metrics.test_metrics_oracle import SERIES

FloatArray = npt.NDArray[np.float64]
TOL = 1e-10
NAMES = sorted(SERIES)


def _dated(values: FloatArray) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2019-11-20", periods=values.size))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("period", ["monthly", "yearly"])
def test_period_returns_equal_empyrical_aggregate_returns(name: str, period: str) -> None:
    series = _dated(SERIES[name])
    idx = series.index
    keys = idx.year * 12 + idx.month - 1 if period == "monthly" else idx.year
    got_keys, got = compounded_by_period(series.to_numpy(), keys.to_numpy())
    expected = ep.aggregate_returns(series.fillna(0.0), period)
    assert got.size == expected.size
    np.testing.assert_allclose(got, expected.to_numpy(), rtol=0, atol=TOL)
    first = expected.index[0]
    assert got_keys[0] == (first[0] * 12 + first[1] - 1 if period == "monthly" else first)


@pytest.mark.parametrize("name", [n for n in NAMES if SERIES[n].size >= 63])
def test_rolling_sharpe_and_volatility_equal_empyrical(name: str) -> None:
    r = SERIES[name]
    np.testing.assert_allclose(
        rolling_volatility(r, 63, 252.0), ep.roll_annual_volatility(r, 63), rtol=0, atol=TOL
    )
    ours = rolling_sharpe(r, 63, 252.0)
    theirs = np.asarray(ep.roll_sharpe_ratio(r, 63), dtype=np.float64)
    assert ours.shape == theirs.shape
    finite = np.isfinite(theirs)
    np.testing.assert_array_equal(np.isfinite(ours), finite)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=0, atol=TOL)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("cutoff", [0.01, 0.05, 0.1])
def test_var_and_cvar_equal_empyrical(name: str, cutoff: float) -> None:
    r = SERIES[name]
    clean = r[~np.isnan(r)]
    assert value_at_risk(r, cutoff) == pytest.approx(ep.value_at_risk(clean, cutoff), abs=TOL)
    assert conditional_value_at_risk(r, cutoff) == pytest.approx(
        ep.conditional_value_at_risk(r, cutoff), abs=TOL
    )


def _legs() -> tuple[FloatArray, FloatArray]:
    prices = pd.read_csv(data_file(SP500_20_STOCKS))
    return prices["MSFT"].to_numpy()[-751:], prices["AAPL"].to_numpy()[-751:]


def test_buy_and_hold_equals_pandas_equal_weight_portfolio() -> None:
    a, b = _legs()
    frame = pd.DataFrame({"a": a, "b": b})
    value = (frame / frame.iloc[0]).mean(axis=1)
    expected = value.pct_change().fillna(0.0).to_numpy()
    np.testing.assert_allclose(buy_and_hold(a, b), expected, rtol=0, atol=TOL)
    with pytest.raises(ValueError, match="positive"):
        buy_and_hold(np.array([1.0, 0.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("name", [n for n in NAMES if SERIES[n].size >= 300])
def test_alpha_beta_equal_empyrical(name: str) -> None:
    a, b = _legs()
    r = SERIES[name][-300:]
    bench = buy_and_hold(a, b)[-300:]
    bench[5] = np.nan  # a missing benchmark bar drops out of both estimates
    alpha, beta = alpha_beta(r, bench, 252.0)
    e_alpha, e_beta = ep.alpha_beta(r, bench, annualization=252)
    assert beta == pytest.approx(e_beta, abs=TOL)
    assert alpha == pytest.approx(e_alpha, abs=TOL)


def _loop_drawdown_table(returns: FloatArray) -> list[DrawdownEpisode]:
    """Bar-by-bar walk of the equity curve (pyfolio's get_top_drawdowns, without pandas)."""
    equity, peak, peak_bar = 1.0, 1.0, -1
    episodes: list[DrawdownEpisode] = []
    current: dict[str, float | int] | None = None
    for i, x in enumerate(np.nan_to_num(returns, nan=0.0)):
        equity *= 1.0 + x
        if equity >= peak:
            if current is not None:
                episodes.append(
                    DrawdownEpisode(
                        int(current["peak"]), int(current["trough"]), i, current["depth"]
                    )
                )
                current = None
            peak, peak_bar = equity, i
            continue
        depth = equity / peak - 1.0
        if current is None:
            current = {"peak": peak_bar, "trough": i, "depth": depth}
        elif depth < current["depth"]:
            current["trough"], current["depth"] = i, depth
    if current is not None:
        episodes.append(
            DrawdownEpisode(int(current["peak"]), int(current["trough"]), None, current["depth"])
        )
    return sorted(episodes, key=lambda e: (e.depth, e.peak))


@pytest.mark.parametrize("name", NAMES)
def test_drawdown_episodes_equal_a_loop_and_empyrical_max_drawdown(name: str) -> None:
    r = SERIES[name]
    ours = drawdown_episodes(r, top=5)
    expected = _loop_drawdown_table(r)[:5]
    assert [(e.peak, e.trough, e.recovery) for e in ours] == [
        (e.peak, e.trough, e.recovery) for e in expected
    ]
    np.testing.assert_allclose([e.depth for e in ours], [e.depth for e in expected], atol=TOL)
    if ours:
        assert ours[0].depth == pytest.approx(ep.max_drawdown(np.nan_to_num(r)), abs=TOL)


def test_drawdown_of_a_rising_series_is_empty_and_open_episode_has_no_recovery() -> None:
    assert drawdown_episodes(np.full(10, 0.01)) == []
    (episode,) = drawdown_episodes(np.array([0.1, -0.2, 0.05]))
    assert (episode.peak, episode.trough, episode.recovery) == (0, 1, None)
    assert episode.bars_underwater is None
