"""Per-bar update of every pair's fixed-lag Engle-Granger statistics equals a full refit."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.tsa.stattools import adfuller

from core.cointegration.rolling import RollingPairStats
from core.cointegration.screen import screen_arrays
from tests.data import wide_20_stocks
from tests.unit.pairs.synthetic import random_universe

WINDOW = 120
TOL = 1e-9


def assert_matches_full_refit(stats: RollingPairStats, window: np.ndarray) -> None:
    full = screen_arrays(window, autolag=None, maxlag=stats.lag)
    got = stats.result()
    np.testing.assert_array_equal(got.a_index, full.a_index)
    np.testing.assert_array_equal(got.b_index, full.b_index)
    for name in ("hedge_ratio", "intercept", "adf_stat", "pvalue"):
        np.testing.assert_allclose(
            getattr(got, name), getattr(full, name), rtol=TOL, atol=TOL, err_msg=name
        )


@pytest.mark.parametrize("lag", [0, 1, 2, 5])
def test_sliding_bar_by_bar_equals_the_full_refit(lag: int) -> None:
    prices = random_universe(23, n_bars=WINDOW + 60, n_symbols=12)
    stats = RollingPairStats(prices[:WINDOW], lag)
    assert_matches_full_refit(stats, prices[:WINDOW])
    for t in range(WINDOW, prices.shape[0]):
        stats.update(prices[t])
        if (t - WINDOW) % 20 == 19 or t == prices.shape[0] - 1:
            assert_matches_full_refit(stats, prices[t + 1 - WINDOW : t + 1])
    stats.rebuild(prices[-WINDOW:])  # from scratch: the same window, the same statistics
    assert_matches_full_refit(stats, prices[-WINDOW:])


def test_sliding_on_the_sp500_file_equals_statsmodels() -> None:
    frame = wide_20_stocks().iloc[-400:].dropna(axis=1)
    prices = frame.to_numpy(dtype=np.float64)
    window, lag = 252, 3
    stats = RollingPairStats(prices[:window], lag)
    for t in range(window, prices.shape[0]):
        stats.update(prices[t])
    last = prices[-window:]
    assert_matches_full_refit(stats, last)
    got = stats.result()
    log_p = np.log(last)
    for q in range(0, got.a_index.size, 17):
        y, x = log_p[:, got.a_index[q]], log_p[:, got.b_index[q]]
        fit = sm.OLS(y, sm.add_constant(x)).fit()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            adf = adfuller(fit.resid, maxlag=lag, autolag=None, regression="n")
        assert got.hedge_ratio[q] == pytest.approx(fit.params[1], rel=TOL, abs=TOL)
        assert got.intercept[q] == pytest.approx(fit.params[0], rel=TOL, abs=TOL)
        assert got.adf_stat[q] == pytest.approx(adf[0], rel=TOL, abs=TOL)


def test_the_lag_must_fit_the_window() -> None:
    with pytest.raises(ValueError, match="maxlag"):
        RollingPairStats(random_universe(1, n_bars=30, n_symbols=4), 20)
