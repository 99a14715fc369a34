"""Spread statistics against statsmodels and pandas on real prices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.regression.rolling import RollingOLS

from services.backtest.engine.spreads import (
    SpreadSeries,
    compute_spread_series,
    ols_hedge,
    rolling_half_life,
    rolling_ols_hedge,
    rolling_zscore,
)
from tests.data import load_pair


@pytest.fixture(scope="module")
def ko_pep() -> tuple[np.ndarray, np.ndarray]:
    frame = load_pair("KO", "PEP", "2005-01-01", "2008-12-31")
    return frame["KO"].to_numpy(), frame["PEP"].to_numpy()


def test_static_hedge_matches_statsmodels_ols(ko_pep: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ko_pep
    fit = sm.OLS(a, sm.add_constant(b)).fit()
    alpha, beta = ols_hedge(a, b)
    np.testing.assert_allclose([alpha, beta], fit.params, rtol=1e-10)


def test_rolling_hedge_matches_statsmodels_rolling_ols(
    ko_pep: tuple[np.ndarray, np.ndarray],
) -> None:
    a, b = ko_pep
    alpha, beta = rolling_ols_hedge(a, b, 60)
    oracle = RollingOLS(a, sm.add_constant(b), window=60).fit().params
    np.testing.assert_allclose(alpha, oracle[:, 0], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(beta, oracle[:, 1], rtol=1e-8, atol=1e-10)


def test_zscore_matches_pandas_rolling(ko_pep: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ko_pep
    spread = pd.Series(a - 0.7 * b)
    oracle = (spread - spread.rolling(40).mean()) / spread.rolling(40).std()
    np.testing.assert_allclose(rolling_zscore(spread.to_numpy(), 40), oracle, rtol=1e-8, atol=1e-10)


def test_half_life_matches_statsmodels_ar1_fit(ko_pep: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ko_pep
    alpha, beta = ols_hedge(a, b)
    spread = a - alpha - beta * b
    window = 90
    half_life = rolling_half_life(spread, window)
    assert np.isnan(half_life[:window]).all()
    for t in (window, 400, len(spread) - 1):
        lagged = spread[t - window : t]
        change = spread[t - window + 1 : t + 1] - lagged
        slope = sm.OLS(change, sm.add_constant(lagged)).fit().params[1]
        expected = np.inf if slope >= 0 else -np.log(2) / np.log(1 + slope)
        assert half_life[t] == pytest.approx(expected, rel=1e-8)


def test_rolling_series_use_no_later_prices(ko_pep: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ko_pep
    base = compute_spread_series(a, b, [30, 50], hedge="rolling")
    a_changed = a.copy()
    a_changed[500:] *= 1.3
    changed = compute_spread_series(a_changed, b, [30, 50], hedge="rolling")
    for name in ("z_score", "hedge_ratio", "half_life"):
        np.testing.assert_array_equal(getattr(base, name)[:500], getattr(changed, name)[:500])
    assert not np.allclose(base.z_score[500:], changed.z_score[500:], equal_nan=True)


def test_fixed_hedge_ratio_and_bad_arguments(ko_pep: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = ko_pep
    fixed = compute_spread_series(a, b, [20], hedge_ratio=0.5)
    assert (fixed.hedge_ratio == 0.5).all()
    np.testing.assert_allclose(fixed.z_score[:, 0], rolling_zscore(a - 0.5 * b, 20), atol=1e-9)
    with pytest.raises(ValueError, match="hedge must be one of"):
        compute_spread_series(a, b, [20], hedge="kalman")
    with pytest.raises(ValueError, match="lookbacks must be >= 2"):
        compute_spread_series(a, b, [1])
    with pytest.raises(ValueError, match="only goes with hedge='ols'"):
        compute_spread_series(a, b, [20], hedge="rolling", hedge_ratio=1.0)
    with pytest.raises(ValueError, match=r"z_score must have shape \(T, 2\)"):
        SpreadSeries(np.array([5, 10]), np.zeros((4, 1)), np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(KeyError, match="no series for lookback 7"):
        fixed.column(7)
