"""Stability of a pair's cointegration over time: the Engle-Granger test repeated on
consecutive equal sub-windows of the common bars (core.cointegration_stability)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from core.cointegration import cointegration_stability
from services.pairs.domain.adhoc import PairTestInputError

MIN_WINDOW_BARS = 20  # core's floor: fewer bars per window cannot carry an ADF regression
MAX_WINDOWS = 50


def run_pair_stability(
    a: str,
    b: str,
    series_a: list[tuple[datetime, float]],
    series_b: list[tuple[datetime, float]],
    *,
    n_windows: int = 4,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """`a` regressed on `b` (log prices) in each window; leftover bars at the start dropped."""
    if a == b:
        raise PairTestInputError(f"a and b must differ, got {a!r} twice")
    if not 1 <= n_windows <= MAX_WINDOWS:
        raise PairTestInputError(f"n_windows must be 1..{MAX_WINDOWS}, got {n_windows}")
    if not 0.0 < alpha < 1.0:
        raise PairTestInputError(f"alpha must be between 0 and 1, got {alpha}")
    prices_b = dict(series_b)
    common = [(t, pa, prices_b[t]) for t, pa in series_a if t in prices_b]
    if any(not (pa > 0 and pb > 0) for _, pa, pb in common):
        raise PairTestInputError("non-positive close in the period")
    width = len(common) // n_windows
    if width < MIN_WINDOW_BARS:
        raise PairTestInputError(
            f"{len(common)} common bars of {a} and {b} split into {n_windows} windows is "
            f"< {MIN_WINDOW_BARS} bars each"
        )
    prices = np.array([[pa, pb] for _, pa, pb in common], dtype=np.float64)
    result = cointegration_stability(prices, [0], [1], n_windows=n_windows, alpha=alpha)
    offset = len(common) - width * n_windows
    windows = [
        {
            "start": common[offset + w * width][0].isoformat(),
            "end": common[offset + (w + 1) * width - 1][0].isoformat(),
            "pvalue": float(result.pvalues[w, 0]),
        }
        for w in range(n_windows)
    ]
    return {
        "pair_id": f"{a}~{b}",
        "n_windows": n_windows,
        "alpha": alpha,
        "pass_fraction": float(result.pass_fraction[0]),
        "pvalue_min": float(result.pvalue_min[0]),
        "pvalue_max": float(result.pvalue_max[0]),
        "windows": windows,
    }
