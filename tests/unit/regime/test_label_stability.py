"""Regime labels do not get renamed by a refit on more data or by statsmodels' regime order."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import OnlineHamiltonFilter, fit_regime_model, log_returns_percent
from tests.data import sp500_index
from tests.unit.regime.conftest import SP500_SPEC, Sp500Fit


def test_refit_on_more_data_keeps_regime_labels(sp500_fit: Sp500Fit) -> None:
    prices, _ = sp500_index()
    returns = log_returns_percent(prices)
    cut = int(np.searchsorted(sp500_fit.dates, np.datetime64("2012-01-01")))
    early = fit_regime_model(returns[:cut], SP500_SPEC)
    full = sp500_fit.model
    assert early.version != full.version
    # Each label keeps its meaning: same variance rank and similar size.
    assert_allclose(early.variances, full.variances, rtol=0.2)
    early_labels = OnlineHamiltonFilter(early).run(returns[:cut]).argmax(axis=1)
    full_labels = sp500_fit.filtered[:cut].argmax(axis=1)
    assert np.mean(early_labels == full_labels) > 0.95


def test_statsmodels_regime_order_does_not_change_labels(sp500_fit: Sp500Fit) -> None:
    """Start the optimiser from both regime orders: different raw order, same labelled model."""
    window = sp500_fit.returns[-1500:]
    p_stay, const, sigma2 = 0.98, (0.05, -0.05), (0.5, 3.0)
    forward = [p_stay, 1 - p_stay, const[0], const[1], sigma2[0], sigma2[1]]
    backward = [p_stay, 1 - p_stay, const[1], const[0], sigma2[1], sigma2[0]]
    a = fit_regime_model(window, SP500_SPEC, start_params=forward)
    b = fit_regime_model(window, SP500_SPEC, start_params=backward)
    assert a.statsmodels_regime_of_label == (0, 1)
    assert b.statsmodels_regime_of_label == (1, 0)
    assert a.llf == pytest.approx(b.llf, abs=1e-3)
    assert_allclose(a.param_values, b.param_values, rtol=1e-3, atol=1e-4)
