"""Universe screen: ordering rule, diagnostics and FDR over the universe."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from core.cointegration.diagnostics import half_life, hurst_exponent
from core.cointegration.engle_granger import engle_granger
from core.cointegration.screen import screen_universe
from tests.data import wide_20_stocks
from tests.unit.pairs.synthetic import random_universe

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"]


@pytest.fixture(scope="module")
def prices() -> np.ndarray:
    return random_universe(12, n_bars=300, n_symbols=len(SYMBOLS))


def test_one_result_per_pair_with_the_more_negative_ordering(prices: np.ndarray) -> None:
    results = screen_universe(prices, SYMBOLS, None, "aic", None)
    assert len(results) == 15
    assert len({frozenset((r.a, r.b)) for r in results}) == 15
    for r in results:
        a, b = SYMBOLS.index(r.a), SYMBOLS.index(r.b)
        both = engle_granger(prices, [a, b], [b, a], autolag="aic")
        assert r.adf_stat == both.adf_stat[0] == both.adf_stat.min()
        assert r.pvalue == both.pvalue[0]
        assert r.lag == both.lag[0]
        assert r.hedge_ratio == both.hedge_ratio[0]
        spread = np.log(prices[:, a]) - r.hedge_ratio * np.log(prices[:, b]) - r.intercept
        assert r.half_life == pytest.approx(float(half_life(spread)), rel=1e-9)
        assert r.hurst == pytest.approx(float(hurst_exponent(spread)), rel=1e-9)
        np.testing.assert_allclose([r.crit_1pct, r.crit_5pct, r.crit_10pct], both.critical_values)


def test_sorted_and_fdr_adjusted_over_the_universe(prices: np.ndarray) -> None:
    results = screen_universe(prices, SYMBOLS, None, "bic", None)
    pvals = np.array([r.pvalue for r in results])
    assert np.all(np.diff(pvals) >= 0)
    np.testing.assert_allclose(
        [r.pvalue_adjusted for r in results], multipletests(pvals, method="fdr_bh")[1]
    )
    assert all(r.n_tests == 15 for r in results)
    top = {frozenset((results[0].a, results[0].b)), frozenset((results[1].a, results[1].b))}
    assert top == {frozenset(("AAA", "BBB")), frozenset(("CCC", "DDD"))}  # the planted pairs


def test_window_uses_the_last_bars(prices: np.ndarray) -> None:
    windowed = screen_universe(prices, SYMBOLS, 150, None, 2)
    direct = screen_universe(prices[-150:], SYMBOLS, None, None, 2)
    assert windowed == direct
    assert all(r.nobs == 150 and r.lag == 2 for r in windowed)


def test_bad_inputs(prices: np.ndarray) -> None:
    with pytest.raises(ValueError, match="does not match"):
        screen_universe(prices, SYMBOLS[:3], None, "aic", None)
    with pytest.raises(ValueError, match="unique"):
        screen_universe(prices, ["A"] * len(SYMBOLS), None, "aic", None)
    with pytest.raises(ValueError, match="window"):
        screen_universe(prices, SYMBOLS, 5, "aic", None)


def test_20_stock_universe_known_pairs_not_cointegrated() -> None:
    frame = wide_20_stocks()
    results = screen_universe(frame.to_numpy(), list(frame.columns), None, None, 0)
    assert len(results) == 190
    by_pair = {frozenset((r.a, r.b)): r for r in results}
    for a, b in (("KO", "PEP"), ("XOM", "CVX")):
        assert by_pair[frozenset((a, b))].pvalue > 0.05
        assert by_pair[frozenset((a, b))].pvalue_adjusted > 0.05
