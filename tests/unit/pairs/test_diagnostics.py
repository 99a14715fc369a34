"""Half-life, Hurst, Benjamini-Hochberg and stability against independent references."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests

from core.cointegration.diagnostics import (
    benjamini_hochberg,
    cointegration_stability,
    half_life,
    hurst_exponent,
)
from core.cointegration.engle_granger import engle_granger
from tests.unit.pairs.synthetic import random_universe


def _ar1(phi: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    shocks = rng.standard_normal(n)
    for t in range(1, n):
        out[t] = phi * out[t - 1] + shocks[t]
    return out + 3.0


def test_half_life_matches_statsmodels_ols() -> None:
    spreads = np.column_stack([_ar1(phi, 500, s) for s, phi in enumerate((0.5, 0.9, 0.98))])
    got = half_life(spreads)
    for j in range(3):
        s = spreads[:, j]
        lam = sm.OLS(np.diff(s), sm.add_constant(s[:-1])).fit().params[1]
        assert got[j] == pytest.approx(-np.log(2.0) / lam, rel=1e-10)
    assert half_life(spreads[:, 0]) == pytest.approx(got[0], rel=1e-12)


def test_half_life_infinite_without_mean_reversion() -> None:
    trend = np.exp(np.linspace(0.0, 1.0, 200))  # d spread grows with spread
    assert half_life(trend) == np.inf


def _hurst_reference(series: np.ndarray, max_lag: int) -> float:
    lags = list(range(2, max_lag + 1))
    stds = [np.std(series[lag:] - series[:-lag]) for lag in lags]
    return float(np.polyfit(np.log(lags), np.log(stds), 1)[0])


def test_hurst_matches_plain_reference_and_orders_regimes() -> None:
    rng = np.random.default_rng(2)
    walk = np.cumsum(rng.standard_normal(4000))
    reverting = _ar1(0.3, 4000, 5)
    trending = np.cumsum(np.cumsum(rng.standard_normal(4000)) * 0.01 + rng.standard_normal(4000))
    panel = np.column_stack([walk, reverting, trending])
    got = hurst_exponent(panel, max_lag=20)
    for j in range(3):
        assert got[j] == pytest.approx(_hurst_reference(panel[:, j], 20), rel=1e-10)
    assert got[0] == pytest.approx(0.5, abs=0.08)
    assert got[1] < 0.2
    assert got[2] > 0.6


def test_benjamini_hochberg_matches_statsmodels() -> None:
    rng = np.random.default_rng(8)
    p = np.concatenate([rng.uniform(size=300), rng.uniform(0, 1e-3, size=20)])
    adjusted, n_tests = benjamini_hochberg(p)
    ref = multipletests(p, method="fdr_bh")[1]
    assert n_tests == p.size
    np.testing.assert_allclose(adjusted, ref, rtol=1e-12)


def test_benjamini_hochberg_skips_untestable_pairs() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03, np.nan])
    adjusted, n_tests = benjamini_hochberg(p)
    assert n_tests == 3
    np.testing.assert_allclose(adjusted[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="fdr_bh")[1])
    assert np.isnan(adjusted[[1, 4]]).all()


def test_stability_repeats_the_test_on_each_window() -> None:
    prices = random_universe(6, n_bars=803, n_symbols=5)
    result = cointegration_stability(prices, [1, 4], [0, 0], n_windows=4, autolag="aic")
    for w in range(4):
        start = 3 + w * 200  # 3 leftover bars are dropped at the start
        direct = engle_granger(prices[start : start + 200], [1, 4], [0, 0], autolag="aic")
        np.testing.assert_array_equal(result.pvalues[w], direct.pvalue)
    assert result.pass_fraction[0] == 1.0  # planted pair holds in every window
    np.testing.assert_allclose(result.pvalue_range, result.pvalues.max(0) - result.pvalues.min(0))
    with pytest.raises(ValueError, match="< 20 bars"):
        cointegration_stability(prices, [1], [0], n_windows=50)
