"""Detection delay and false-shift rate of the hysteresis detector on synthetic switches.

The series are drawn from a known two-regime Gaussian model and filtered with the *true*
parameters, so the table measures the detector (threshold x min_bars), not estimation error.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.regime.fitted import FittedRegimeModel, FloatArray
from core.regime.hamilton import OnlineHamiltonFilter
from core.regime.shifts import ShiftDetectorSettings, detect_shifts
from core.regime.spec import RegimeModelSpec

THRESHOLDS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9)
MIN_BARS: tuple[int, ...] = (1, 3, 5)


@dataclass(frozen=True, slots=True)
class SyntheticRegimeProcess:
    """Low/high volatility returns with segment lengths drawn uniformly from the ranges."""

    sigma: tuple[float, float] = (1.0, 2.5)
    low_segment_bars: tuple[int, int] = (120, 300)
    high_segment_bars: tuple[int, int] = (40, 120)

    def true_model(self) -> FittedRegimeModel:
        stay_low = 1.0 - 1.0 / np.mean(self.low_segment_bars)
        stay_high = 1.0 - 1.0 / np.mean(self.high_segment_bars)
        raw: dict[str, float] = {
            "p[0->0]": float(stay_low),
            "p[1->0]": float(1.0 - stay_high),
            "const[0]": 0.0,
            "const[1]": 0.0,
            "sigma2[0]": self.sigma[0] ** 2,
            "sigma2[1]": self.sigma[1] ** 2,
        }
        spec = RegimeModelSpec(k_regimes=2)
        return FittedRegimeModel.from_raw_params(spec, raw, llf=0.0, nobs=0, data_sha256="dgp")

    def sample(self, n_bars: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """Returns (values, true regime per bar); the series starts in the low regime."""
        regimes = np.empty(n_bars, dtype=np.int64)
        position, regime = 0, 0
        while position < n_bars:
            low, high = self.low_segment_bars if regime == 0 else self.high_segment_bars
            length = int(rng.integers(low, high + 1))
            regimes[position : position + length] = regime
            position += length
            regime = 1 - regime
        sigma = np.asarray(self.sigma)[regimes]
        return rng.normal(0.0, 1.0, n_bars) * sigma, regimes.astype(np.float64)


@dataclass(frozen=True, slots=True)
class DetectionRow:
    threshold: float
    min_bars: int
    true_switches: int
    detected: int
    missed: int
    mean_delay_bars: float
    false_shifts: int
    false_shifts_per_1000_bars: float


def score_shifts(
    true_regimes: FloatArray, shift_bars: Sequence[int], shift_targets: Sequence[int]
) -> tuple[list[int], int, int]:
    """(delays of detected switches, missed switches, false shifts).

    A true switch into regime r at bar s is detected by the first declared shift to r in
    [s, next switch); every other declared shift is false.
    """
    switch_bars = np.flatnonzero(np.diff(true_regimes) != 0) + 1
    boundaries = [*switch_bars.tolist(), len(true_regimes)]
    used: set[int] = set()
    delays: list[int] = []
    missed = 0
    for start, end in itertools.pairwise(boundaries):
        target = int(true_regimes[start])
        hit = next(
            (
                n
                for n, (bar, to) in enumerate(zip(shift_bars, shift_targets, strict=True))
                if start <= bar < end and to == target
            ),
            None,
        )
        if hit is None:
            missed += 1
        else:
            used.add(hit)
            delays.append(shift_bars[hit] - start)
    return delays, missed, len(shift_bars) - len(used)


def detection_table(
    n_series: int = 12,
    n_bars: int = 2000,
    seed: int = 7,
    thresholds: Sequence[float] = THRESHOLDS,
    min_bars: Sequence[int] = MIN_BARS,
    process: SyntheticRegimeProcess | None = None,
) -> list[DetectionRow]:
    process = process or SyntheticRegimeProcess()
    model = process.true_model()
    rng = np.random.default_rng(seed)
    paths = []
    for _ in range(n_series):
        values, regimes = process.sample(n_bars, rng)
        paths.append((OnlineHamiltonFilter(model).run(values), regimes))
    rows = []
    for threshold in thresholds:
        for bars in min_bars:
            settings = ShiftDetectorSettings(threshold=threshold, min_bars=bars)
            delays: list[int] = []
            missed = false = switches = 0
            for probabilities, regimes in paths:
                shifts = detect_shifts(probabilities, settings, initial_regime=int(regimes[0]))
                d, m, f = score_shifts(
                    regimes, [s.bar for s in shifts], [s.to_regime for s in shifts]
                )
                delays += d
                missed += m
                false += f
                switches += int(np.count_nonzero(np.diff(regimes)))
            rows.append(
                DetectionRow(
                    threshold=threshold,
                    min_bars=bars,
                    true_switches=switches,
                    detected=len(delays),
                    missed=missed,
                    mean_delay_bars=float(np.mean(delays)) if delays else float("nan"),
                    false_shifts=false,
                    false_shifts_per_1000_bars=1000.0 * false / (n_series * n_bars),
                )
            )
    return rows


def rows_as_dicts(rows: Sequence[DetectionRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in rows]


def markdown_table(rows: Sequence[DetectionRow]) -> str:
    header = (
        "| threshold | min_bars | switches | detected | missed | mean delay (bars) "
        "| false shifts | false / 1000 bars |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r.threshold:.1f} | {r.min_bars} | {r.true_switches} | {r.detected} | {r.missed} "
        f"| {r.mean_delay_bars:.2f} | {r.false_shifts} | {r.false_shifts_per_1000_bars:.3f} |"
        for r in rows
    ]
    return "\n".join([header, *lines])
