"""Engle-Granger engine vs statsmodels ``coint`` / ``adfuller`` on the same inputs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.tsa.stattools import adfuller, coint

from core.cointegration.engle_granger import (
    Autolag,
    EngleGrangerResult,
    default_maxlag,
    engle_granger,
    engle_granger_all_pairs,
)
from tests.data import crude, quandl_adj_close, wide_20_stocks
from tests.unit.pairs.synthetic import random_universe


def _reference(
    y: np.ndarray, x: np.ndarray, autolag: Autolag, maxlag: int | None
) -> tuple[Any, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = coint(y, x, trend="c", autolag=autolag, maxlag=maxlag)
        resid = sm.OLS(y, sm.add_constant(x)).fit().resid
        adf = adfuller(resid, maxlag=maxlag, autolag=autolag, regression="n", result_object=True)
    return res, adf.lags


def _assert_matches(
    prices: np.ndarray, result: EngleGrangerResult, autolag: Autolag, maxlag: int | None
) -> None:
    log_p = np.log(prices)
    for q in range(result.y_index.size):
        y, x = log_p[:, result.y_index[q]], log_p[:, result.x_index[q]]
        ref, ref_lag = _reference(y, x, autolag, maxlag)
        assert result.lag[q] == ref_lag, f"pair {q}: lag {result.lag[q]} vs {ref_lag}"
        assert result.adf_stat[q] == pytest.approx(ref.coint_t, rel=1e-8)
        assert abs(result.pvalue[q] - ref.pvalue) <= 1e-10
        np.testing.assert_allclose(result.critical_values, ref.critical_values, rtol=1e-12)
        beta = sm.OLS(y, sm.add_constant(x)).fit().params
        assert result.hedge_ratio[q] == pytest.approx(beta[1], rel=1e-9)
        assert result.intercept[q] == pytest.approx(beta[0], rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    ("seed", "autolag", "maxlag"),
    [(1, "aic", None), (2, "bic", None), (3, "t-stat", None), (4, None, 3), (5, "aic", 6)],
)
def test_all_pairs_both_orderings_match_statsmodels(
    seed: int, autolag: Autolag, maxlag: int | None
) -> None:
    prices = random_universe(seed, n_bars=240, n_symbols=5)
    forward, backward = engle_granger_all_pairs(prices, autolag=autolag, maxlag=maxlag)
    assert forward.y_index.size == 10
    np.testing.assert_array_equal(forward.y_index, backward.x_index)
    _assert_matches(prices, forward, autolag, maxlag)
    _assert_matches(prices, backward, autolag, maxlag)
    assert forward.pvalue[0] < 0.01  # planted pair (0, 1)


def test_selected_lags_are_not_all_zero_on_autocorrelated_spreads() -> None:
    rng = np.random.default_rng(9)
    n = 400
    x = 4.0 + np.cumsum(0.01 * rng.standard_normal(n))
    shocks = 0.01 * rng.standard_normal(n)
    spread = np.zeros(n)
    for t in range(2, n):  # AR(2) spread: the ADF regression needs lagged differences
        spread[t] = 1.2 * spread[t - 1] - 0.35 * spread[t - 2] + shocks[t]
    prices = np.exp(np.column_stack([x + spread, x]))
    modes: tuple[Autolag, ...] = ("aic", "bic", "t-stat")
    for autolag in modes:
        result = engle_granger(prices, [0], [1], autolag=autolag)
        assert result.lag[0] >= 1
        _assert_matches(prices, result, autolag, None)


def test_default_maxlag_is_statsmodels_rule() -> None:
    assert default_maxlag(1000) == 22
    assert default_maxlag(252) == 16
    assert default_maxlag(20) == 9


def test_collinear_pair_reported_like_statsmodels() -> None:
    rng = np.random.default_rng(0)
    x = 4.0 + np.cumsum(0.01 * rng.standard_normal(300))
    prices = np.exp(np.column_stack([x, 2.0 * x + 1.0]))
    result = engle_granger(prices, [1], [0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = coint(np.log(prices[:, 1]), np.log(prices[:, 0]))
    assert result.adf_stat[0] == ref.coint_t == -np.inf
    assert result.pvalue[0] == ref.pvalue
    assert result.lag[0] == -1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"maxlag": 200}, "too large"),
        ({"maxlag": -1}, ">= 0"),
        ({"autolag": "hqic"}, "autolag"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, object], message: str) -> None:
    prices = random_universe(0, n_bars=100, n_symbols=4)
    with pytest.raises(ValueError, match=message):
        engle_granger(prices, [0], [1], **kwargs)  # type: ignore[arg-type]


def test_non_positive_prices_rejected_for_log() -> None:
    prices = random_universe(0, n_bars=100, n_symbols=4)
    prices[5, 1] = 0.0
    with pytest.raises(ValueError, match="strictly positive"):
        engle_granger(prices, [0], [1])
    raw = engle_granger(prices, [0], [2], log_prices=False)
    assert np.isfinite(raw.adf_stat[0])


def _known_fact(prices: np.ndarray) -> tuple[float, float]:
    result = engle_granger(prices, [0], [1], autolag=None, maxlag=0)
    ref, ref_lag = _reference(np.log(prices[:, 0]), np.log(prices[:, 1]), None, 0)
    assert ref_lag == result.lag[0] == 0
    assert result.adf_stat[0] == pytest.approx(ref.coint_t, rel=1e-8)
    assert abs(result.pvalue[0] - ref.pvalue) <= 1e-10
    return float(result.pvalue[0]), float(ref.pvalue)


def test_msft_ibm_2000_2013_cointegrated_at_1pct() -> None:
    p, _ = _known_fact(quandl_adj_close(["MSFT", "IBM"]).to_numpy())
    assert p < 0.01


def test_wti_brent_cointegrated_at_1pct() -> None:
    p, _ = _known_fact(crude()[["WTI", "Brent"]].to_numpy())
    assert p < 0.01


@pytest.mark.parametrize(("a", "b", "approx"), [("KO", "PEP", 0.13), ("XOM", "CVX", 0.28)])
def test_20_stock_pairs_not_cointegrated(a: str, b: str, approx: float) -> None:
    p, _ = _known_fact(wide_20_stocks()[[a, b]].to_numpy())
    assert p == pytest.approx(approx, abs=0.01)


def test_ko_pep_last_2000_days_with_aic_matches_statsmodels() -> None:
    prices = wide_20_stocks()[["KO", "PEP"]].to_numpy()[-2000:]
    _assert_matches(prices, engle_granger(prices, [0, 1], [1, 0], autolag="aic"), "aic", None)
