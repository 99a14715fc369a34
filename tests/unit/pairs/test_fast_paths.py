"""The engine's shortcuts against the plain computations they replace, and against statsmodels.

- symbol-level lagged moments (level-lag moments by summation by parts) vs direct sums;
- ADF Grams read off moments minus Hankel edge rows vs the explicit regression design's X'X;
- Engle-Granger with tiny chunks (chunk boundaries, per-lag refit groups) vs statsmodels;
- half-life / Hurst from symbol moments vs the per-spread functions.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from statsmodels.tsa.stattools import adfuller, coint

from core.cointegration.diagnostics import half_life, hurst_exponent
from core.cointegration.engle_granger import (
    Autolag,
    _adf_stat,
    _selection_gram,
    engle_granger,
)
from core.cointegration.spread_moments import pair_half_life, pair_hurst
from core.cointegration.symbol_moments import SymbolMoments, split_tiles, symbol_moments
from tests.unit.pairs.synthetic import random_universe


@pytest.fixture(scope="module")
def log_prices() -> np.ndarray:
    return np.asarray(np.log(random_universe(21, n_bars=120, n_symbols=5)), dtype=np.float64)


def _symbol_moments(log_prices: np.ndarray, maxlag: int) -> SymbolMoments:
    """All symbols loaded (one block holding the whole universe)."""
    tiles = split_tiles(log_prices)
    return symbol_moments(tiles, maxlag, len(tiles))


def _cross(moments: SymbolMoments, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.asarray(moments.cross.at(y, x)[:, 0] / moments.cross.on_diag(x)[:, 0])


def _adf_design(spread: np.ndarray, lag: int) -> np.ndarray:
    """Rows s = lag..E of [level e_s, d_{s-1}..d_{s-lag}, response d_s], built directly."""
    d = np.diff(spread)
    rows = range(lag, d.size)
    return np.array(
        [[spread[s], *(d[s - i] for i in range(1, lag + 1)), d[s]] for s in rows], dtype=float
    )


def test_symbol_moments_match_direct_lagged_sums(log_prices: np.ndarray) -> None:
    maxlag = 6
    moments = _symbol_moments(log_prices, maxlag)
    zc = log_prices - log_prices.mean(axis=0)
    d = np.diff(zc, axis=0)
    last = d.shape[0] - 1
    for k in range(maxlag + 1):
        direct_dd = sum(np.outer(d[u], d[u - k]) for u in range(k, last + 1))
        direct_ld = sum(np.outer(zc[s], d[s - k]) for s in range(k, last + 1))
        n = log_prices.shape[1]
        dd = moments.diff_diff.rows[:n, :n, k]
        ld = moments.level_diff.rows[:n, :n, k]
        np.testing.assert_allclose(dd, direct_dd, rtol=1e-11, atol=1e-15)
        np.testing.assert_allclose(ld, direct_ld, rtol=1e-11, atol=1e-15)
    level = moments.level_level.rows[:n, :n, 0]
    np.testing.assert_allclose(level, zc[:-1].T @ zc[:-1], rtol=1e-12)


@pytest.mark.parametrize("lag", [0, 1, 4, 9])
def test_selection_gram_is_the_adf_design_gram(log_prices: np.ndarray, lag: int) -> None:
    moments = _symbol_moments(log_prices, 9)
    y = np.array([1, 0, 3, 4], dtype=np.intp)
    x = np.array([0, 1, 2, 2], dtype=np.intp)
    beta = _cross(moments, y, x)
    gram = _selection_gram(moments, y, x, beta, lag)
    for q in range(y.size):
        spread = moments.centered[:, y[q]] - beta[q] * moments.centered[:, x[q]]
        design = _adf_design(spread, lag)
        np.testing.assert_allclose(gram[q], design.T @ design, rtol=1e-9, atol=1e-13)


def test_refit_in_a_wider_gram_matches_adfuller_at_each_lag(log_prices: np.ndarray) -> None:
    moments = _symbol_moments(log_prices, 9)
    y = np.array([1, 0, 3, 4, 2], dtype=np.intp)
    x = np.array([0, 1, 2, 2, 4], dtype=np.intp)
    lags = np.array([0, 1, 3, 6, 9], dtype=np.intp)
    beta = _cross(moments, y, x)
    padded = _adf_stat(moments, y, x, beta, lags, 9)  # unit columns stand in for unused lags
    for q in range(y.size):
        one = slice(q, q + 1)
        exact = _adf_stat(moments, y[one], x[one], beta[one], lags[one], int(lags[q]))
        assert padded[q] == pytest.approx(exact[0], rel=1e-10)
        spread = moments.centered[:, y[q]] - beta[q] * moments.centered[:, x[q]]
        ref = adfuller(
            spread, maxlag=int(lags[q]), autolag=None, regression="n", result_object=True
        )
        assert padded[q] == pytest.approx(ref.statistic, rel=1e-8)


@pytest.mark.parametrize(("autolag", "chunk_size"), [("aic", 1), ("aic", 3), ("t-stat", 4)])
def test_tiny_chunks_match_statsmodels(autolag: Autolag, chunk_size: int) -> None:
    prices = random_universe(31, n_bars=200, n_symbols=5)
    y, x = np.triu_indices(5, k=1)
    y_idx, x_idx = np.r_[y, x], np.r_[x, y]  # both orderings, 20 tests
    result = engle_granger(prices, y_idx, x_idx, autolag=autolag, chunk_size=chunk_size)
    assert np.array_equal(result.lag, engle_granger(prices, y_idx, x_idx, autolag=autolag).lag)
    log_p = np.log(prices)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in range(y_idx.size):
            ref = coint(log_p[:, y_idx[q]], log_p[:, x_idx[q]], trend="c", autolag=autolag)
            assert result.adf_stat[q] == pytest.approx(ref.coint_t, rel=1e-8)
            assert abs(result.pvalue[q] - ref.pvalue) <= 1e-10
    assert len(set(result.lag.tolist())) > 1  # several refit groups were exercised


@pytest.mark.parametrize(("n_bars", "max_lag"), [(300, 20), (40, 20), (12, 5)])
def test_pair_half_life_and_hurst_match_per_spread_functions(n_bars: int, max_lag: int) -> None:
    z = np.log(random_universe(5, n_bars=n_bars, n_symbols=6))
    a, b = (idx.astype(np.intp) for idx in np.triu_indices(6, k=1))
    a, b = np.r_[a, b], np.r_[b, a]
    beta = np.linspace(-1.5, 2.0, a.size)
    beta[0] = 1.3  # the planted pair (0, 1) at its true ratio: a tight, mean-reverting spread
    spreads = z[:, a] - beta * z[:, b] + 0.7  # the intercept must not matter
    np.testing.assert_allclose(pair_half_life(z, a, b, beta), half_life(spreads), rtol=1e-9)
    np.testing.assert_allclose(
        pair_hurst(z, a, b, beta, max_lag=max_lag),
        hurst_exponent(spreads, max_lag=max_lag),
        rtol=1e-9,
    )


def test_pair_diagnostics_reject_short_series() -> None:
    z = np.log(random_universe(5, n_bars=5, n_symbols=4))
    one = np.array([0], dtype=np.intp)
    with pytest.raises(ValueError, match="too short"):
        pair_hurst(z, one, one + 1, np.ones(1))
    with pytest.raises(ValueError, match="at least 3"):
        pair_half_life(z[:2], one, one + 1, np.ones(1))


def test_chunk_size_must_be_positive() -> None:
    prices = random_universe(0, n_bars=100, n_symbols=4)
    with pytest.raises(ValueError, match="chunk_size"):
        engle_granger(prices, [0], [1], chunk_size=0)
