"""The portfolio's metrics use the backtest's formulas: same numbers on the same returns."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from core.portfolio.metrics import equity_returns, max_drawdown, sharpe, total_return
from services.backtest import metrics as backtest

FloatArray = np.ndarray  # type: ignore[type-arg]


def one(metric: Callable[[FloatArray], FloatArray], returns: FloatArray) -> float:
    """The service's metric of a single column."""
    return float(metric(returns[:, None])[0])


@pytest.mark.parametrize("seed", range(5))
def test_core_metrics_agree_with_the_backtest_service(seed: int) -> None:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0004, 0.01, size=500)
    assert total_return(returns) == pytest.approx(one(backtest.total_return, returns), rel=1e-12)
    assert sharpe(returns, 252.0) == pytest.approx(one(backtest.sharpe, returns), rel=1e-12)
    assert max_drawdown(returns) == pytest.approx(one(backtest.max_drawdown, returns), rel=1e-12)


def test_edge_cases_follow_the_backtest_conventions() -> None:
    flat = np.zeros(10)
    assert math.isnan(sharpe(flat)) and math.isnan(one(backtest.sharpe, flat))
    rising = np.full(10, 0.01)
    assert sharpe(rising) == math.inf == one(backtest.sharpe, rising)
    assert max_drawdown(rising) == 0.0 == one(backtest.max_drawdown, rising)
    assert math.isnan(sharpe(rising[:1]))


def test_equity_returns_start_from_the_capital() -> None:
    returns = equity_returns(np.array([110.0, 99.0]), 100.0)
    np.testing.assert_allclose(returns, [0.1, -0.1])
