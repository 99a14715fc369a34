"""Regime-shift detection with hysteresis on filtered regime probabilities.

A shift to regime r is declared only after Pr(S_t = r | Y_t) > threshold on `min_bars`
consecutive bars, so one noisy bar can never flip the published regime. The first regime that
passes this test establishes the current regime without being reported as a shift (unless the
detector was given an `initial_regime`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.regime.fitted import FloatArray


@dataclass(frozen=True, slots=True)
class ShiftDetectorSettings:
    threshold: float = 0.8
    min_bars: int = 3

    def __post_init__(self) -> None:
        if not 0.5 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0.5, 1), got {self.threshold}")
        if self.min_bars < 1:
            raise ValueError(f"min_bars must be >= 1, got {self.min_bars}")


@dataclass(frozen=True, slots=True)
class RegimeShift:
    bar: int  # index of the bar (0-based count of updates) at which the shift was declared
    from_regime: int
    to_regime: int
    probability: float


class ShiftDetector:
    def __init__(self, settings: ShiftDetectorSettings, initial_regime: int | None = None) -> None:
        self.settings = settings
        self._current = initial_regime
        self._candidate: int | None = None
        self._streak = 0
        self._bar = -1

    @property
    def current_regime(self) -> int | None:
        return self._current

    def update(self, probabilities: Sequence[float] | FloatArray | None) -> RegimeShift | None:
        """Feed one bar's filtered probabilities (None = undefined bar, breaks any streak)."""
        self._bar += 1
        if probabilities is None:
            self._candidate, self._streak = None, 0
            return None
        probs = np.asarray(probabilities, dtype=np.float64)
        if probs.ndim != 1 or probs.size < 2 or not np.all(np.isfinite(probs)):
            raise ValueError(f"probabilities must be a finite 1-D vector, got {probabilities!r}")
        leader = int(np.argmax(probs))
        if leader == self._current or probs[leader] <= self.settings.threshold:
            self._candidate, self._streak = None, 0
            return None
        if leader == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = leader, 1
        if self._streak < self.settings.min_bars:
            return None
        previous = self._current
        self._current, self._candidate, self._streak = leader, None, 0
        if previous is None:
            return None
        return RegimeShift(self._bar, previous, leader, float(probs[leader]))


def detect_shifts(
    probabilities: FloatArray,
    settings: ShiftDetectorSettings,
    initial_regime: int | None = None,
) -> list[RegimeShift]:
    """Run a detector over an (n_bars, k) array; NaN rows are undefined bars."""
    detector = ShiftDetector(settings, initial_regime)
    shifts: list[RegimeShift] = []
    for row in probabilities:
        shift = detector.update(None if np.isnan(row).any() else row)
        if shift is not None:
            shifts.append(shift)
    return shifts
