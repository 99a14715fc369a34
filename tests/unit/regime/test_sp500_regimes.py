"""Real data: the high-volatility regime of S&P 500 daily returns covers 2008 and March 2020."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.regime import ShiftDetectorSettings, detect_shifts
from tests.unit.regime.conftest import Sp500Fit

HIGH_VOL = 1


def _share_high_vol(fit: Sp500Fit, start: str, end: str) -> float:
    mask = (fit.dates >= pd.Timestamp(start)) & (fit.dates <= pd.Timestamp(end))
    labels = fit.filtered[mask].argmax(axis=1)
    return float(np.mean(labels == HIGH_VOL))


def test_labels_are_low_then_high_volatility(sp500_fit: Sp500Fit) -> None:
    variances = sp500_fit.model.variances
    assert variances[0] < variances[1]
    assert variances[1] / variances[0] > 3  # a volatility regime, not noise
    assert np.std(sp500_fit.returns) ** 2 == pytest.approx(
        np.average(variances, weights=sp500_fit.filtered.mean(axis=0)), rel=0.3
    )


@pytest.mark.parametrize(
    ("start", "end", "minimum"),
    [
        ("2008-10-01", "2008-11-30", 0.95),
        ("2008-09-15", "2008-12-31", 0.9),
        ("2020-03-01", "2020-03-31", 0.9),
    ],
)
def test_crises_are_high_volatility(
    sp500_fit: Sp500Fit, start: str, end: str, minimum: float
) -> None:
    assert _share_high_vol(sp500_fit, start, end) >= minimum


def test_calm_mid_nineties_are_low_volatility(sp500_fit: Sp500Fit) -> None:
    assert _share_high_vol(sp500_fit, "1993-01-01", "1995-12-31") < 0.1


def test_shift_into_high_volatility_declared_around_the_2020_crash(sp500_fit: Sp500Fit) -> None:
    shifts = detect_shifts(sp500_fit.filtered, ShiftDetectorSettings(0.8, 3))
    dates = [sp500_fit.dates[s.bar] for s in shifts if s.to_regime == HIGH_VOL]
    assert any(np.datetime64("2020-02-20") <= d <= np.datetime64("2020-03-10") for d in dates)
