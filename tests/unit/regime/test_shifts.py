"""Hysteresis detector: no flapping on one noisy bar, min_bars and threshold honoured."""

from __future__ import annotations

import numpy as np
import pytest

from core.regime import ShiftDetector, ShiftDetectorSettings, detect_shifts


def _path(p_high: list[float]) -> np.ndarray:
    high = np.asarray(p_high)
    return np.column_stack([1 - high, high])


def test_single_noisy_bar_never_shifts() -> None:
    probabilities = _path([0.05] * 10 + [0.99] + [0.05] * 10 + [0.95] + [0.1] * 5)
    for min_bars in (2, 3, 5):
        settings = ShiftDetectorSettings(threshold=0.6, min_bars=min_bars)
        assert detect_shifts(probabilities, settings, initial_regime=0) == []


def test_min_bars_one_reacts_to_a_single_bar() -> None:
    probabilities = _path([0.05] * 5 + [0.99] + [0.05] * 5)
    shifts = detect_shifts(probabilities, ShiftDetectorSettings(0.6, 1), initial_regime=0)
    assert [(s.bar, s.from_regime, s.to_regime) for s in shifts] == [(5, 0, 1), (6, 1, 0)]


def test_shift_declared_after_min_bars_consecutive_bars_above_threshold() -> None:
    # 0.85 twice, a dip to 0.75 (below 0.8) breaks the streak, then three in a row.
    probabilities = _path([0.1] * 4 + [0.85, 0.85, 0.75, 0.9, 0.95, 0.97, 0.97])
    shifts = detect_shifts(probabilities, ShiftDetectorSettings(0.8, 3), initial_regime=0)
    assert len(shifts) == 1
    assert (shifts[0].bar, shifts[0].to_regime) == (9, 1)
    assert shifts[0].probability == pytest.approx(0.97)


def test_first_established_regime_is_not_a_shift() -> None:
    detector = ShiftDetector(ShiftDetectorSettings(0.7, 2))
    assert detector.update([0.9, 0.1]) is None
    assert detector.current_regime is None
    assert detector.update([0.9, 0.1]) is None
    assert detector.current_regime == 0
    assert detector.update([0.2, 0.8]) is None
    shift = detector.update([0.2, 0.8])
    assert shift is not None
    assert (shift.bar, shift.from_regime, shift.to_regime) == (3, 0, 1)


def test_undefined_bar_breaks_a_streak() -> None:
    detector = ShiftDetector(ShiftDetectorSettings(0.7, 2), initial_regime=0)
    assert detector.update([0.1, 0.9]) is None
    assert detector.update(None) is None
    assert detector.update([0.1, 0.9]) is None
    assert detector.current_regime == 0
    assert detector.update([0.1, 0.9]) is not None


def test_three_regimes_streak_restarts_when_the_leader_changes() -> None:
    detector = ShiftDetector(ShiftDetectorSettings(0.6, 2), initial_regime=0)
    assert detector.update([0.1, 0.8, 0.1]) is None
    assert detector.update([0.1, 0.1, 0.8]) is None  # a different candidate: streak restarts
    shift = detector.update([0.1, 0.1, 0.8])
    assert shift is not None
    assert shift.to_regime == 2


@pytest.mark.parametrize(("threshold", "min_bars"), [(0.4, 3), (1.0, 3), (0.8, 0)])
def test_invalid_settings_are_refused(threshold: float, min_bars: int) -> None:
    with pytest.raises(ValueError):
        ShiftDetectorSettings(threshold=threshold, min_bars=min_bars)


def test_malformed_probabilities_are_refused() -> None:
    detector = ShiftDetector(ShiftDetectorSettings())
    with pytest.raises(ValueError, match="finite 1-D"):
        detector.update([float("nan"), 0.5])
