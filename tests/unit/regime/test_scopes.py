"""Market and pair-spread scopes: input series and the regimes they produce."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import (
    SCOPE_SPECS,
    OnlineHamiltonFilter,
    RegimeModelSpec,
    RegimeScope,
    ShiftDetectorSettings,
    detect_shifts,
    fit_regime_model,
    market_returns,
    regime_names,
    spread_changes,
)


def test_market_returns_benchmark_and_equal_weighted() -> None:
    prices = np.array([[100.0, 50.0], [110.0, 50.0], [99.0, 55.0]])
    assert_allclose(market_returns(prices[:, 0]), 100 * np.diff(np.log(prices[:, 0])))
    # Equal weights, rebalanced daily: mean of simple returns, reported as a log return.
    expected = 100 * np.log1p(np.array([(0.10 + 0.0) / 2, (-0.10 + 0.10) / 2]))
    assert_allclose(market_returns(prices), expected, atol=1e-12)


@pytest.mark.parametrize(
    "prices", [np.array([1.0]), np.array([1.0, -2.0]), np.array([1.0, np.nan])]
)
def test_bad_prices_are_refused(prices: np.ndarray) -> None:
    with pytest.raises(ValueError):
        market_returns(prices)


def test_regime_names() -> None:
    assert regime_names(RegimeScope.MARKET, SCOPE_SPECS[RegimeScope.MARKET]) == (
        "low_vol",
        "high_vol",
    )
    spread = SCOPE_SPECS[RegimeScope.PAIR_SPREAD]
    assert regime_names(RegimeScope.PAIR_SPREAD, spread) == ("mean_reverting", "trending")
    mean_only = RegimeModelSpec(switching_variance=False)
    assert regime_names(RegimeScope.MARKET, mean_only) == ("low_mean", "high_mean")


def test_pair_spread_regimes_separate_mean_reversion_from_trend() -> None:
    rng = np.random.default_rng(5)
    spread = [0.0]
    truth = []
    anchor = 0.0  # equilibrium level of the mean-reverting spread
    for bar in range(1200):
        trending = 600 <= bar < 800
        if bar == 800:  # after the break the spread mean-reverts around its new level
            anchor = spread[-1]
        if trending:  # the relation breaks: drift plus larger shocks
            step = 0.05 + 0.3 * rng.normal()
        else:  # Ornstein-Uhlenbeck
            step = -0.1 * (spread[-1] - anchor) + 0.1 * rng.normal()
        spread.append(spread[-1] + step)
        truth.append(int(trending))
    changes = spread_changes(np.asarray(spread))
    model = fit_regime_model(changes, SCOPE_SPECS[RegimeScope.PAIR_SPREAD])
    filtered = OnlineHamiltonFilter(model).run(changes)
    labels = filtered.argmax(axis=1)
    truth_arr = np.asarray(truth)
    assert np.mean(labels[truth_arr == 1] == 1) > 0.9
    assert np.mean(labels[truth_arr == 0] == 0) > 0.9
    shifts = detect_shifts(filtered, ShiftDetectorSettings(0.8, 3), initial_regime=0)
    to_trending = [s.bar for s in shifts if s.to_regime == 1]
    assert to_trending and 600 <= to_trending[0] <= 615
