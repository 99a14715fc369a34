"""Fits are slow: the S&P 500 fits are shared by every test module that needs them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from core.regime import (
    FittedRegimeModel,
    OnlineHamiltonFilter,
    RegimeModelSpec,
    fit_regime_model,
    log_returns_percent,
)
from tests.data import sp500_index


@dataclass(frozen=True)
class Sp500Fit:
    returns: np.ndarray
    dates: pd.DatetimeIndex  # date of each return
    model: FittedRegimeModel
    filtered: np.ndarray  # (bars, k) filtered probabilities, label order


SP500_SPEC = RegimeModelSpec(k_regimes=2, switching_mean=True, switching_variance=True)


@pytest.fixture(scope="session")
def sp500_fit() -> Sp500Fit:
    prices, dates = sp500_index()
    returns = log_returns_percent(prices)
    model = fit_regime_model(returns, SP500_SPEC)
    filtered = OnlineHamiltonFilter(model).run(returns)
    return Sp500Fit(returns=returns, dates=dates[1:], model=model, filtered=filtered)
