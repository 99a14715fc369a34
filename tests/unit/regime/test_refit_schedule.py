"""Refits happen on a schedule of bar time, not per bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from core.regime import RefitSchedule, RegimeModelSpec, fit_regime_model

T0 = datetime(2024, 1, 5, 21, 0, tzinfo=UTC)


def test_due_first_time_then_every_interval() -> None:
    schedule = RefitSchedule(interval=timedelta(days=7), window_bars=500, min_bars=100)
    assert not schedule.is_due(None, T0, bars_available=99)
    assert schedule.is_due(None, T0, bars_available=100)
    assert not schedule.is_due(T0, T0 + timedelta(days=6, hours=23), bars_available=600)
    assert schedule.is_due(T0, T0 + timedelta(days=7), bars_available=600)


def test_window_is_the_trailing_bars() -> None:
    schedule = RefitSchedule(window_bars=3, min_bars=2)
    assert schedule.window(np.arange(10.0)).tolist() == [7.0, 8.0, 9.0]


@pytest.mark.parametrize(("window_bars", "min_bars"), [(10, 20), (10, 0)])
def test_invalid_schedule_is_refused(window_bars: int, min_bars: int) -> None:
    with pytest.raises(ValueError):
        RefitSchedule(window_bars=window_bars, min_bars=min_bars)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.ones(5), "too few observations"),
        (np.r_[np.zeros(30), np.nan], "non-finite value at position 30"),
        (np.zeros((30, 2)), "1-D"),
    ],
)
def test_fit_refuses_bad_series(values: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_regime_model(values, RegimeModelSpec())
