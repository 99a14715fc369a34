"""What a regime is fitted on, per scope, and what its labels are called.

- market: daily log returns (percent) of the benchmark index, or of the equal-weighted
  universe when no benchmark is available. MarkovRegression, k=2, switching mean and variance;
  labels by variance: 0 = "low_vol", 1 = "high_vol".
- pair spread (scope = pair id): daily *changes* of the spread, same model family. Labels by
  variance: 0 = "mean_reverting" (small spread moves: the hedge holds and the spread oscillates
  around its mean), 1 = "trending" (large, persistent spread moves: the relation is breaking
  or drifting). Variance of spread changes is used as the observable proxy for persistence
  because an AR coefficient estimated per regime on daily spread changes is poorly identified
  on the window sizes we refit on, whereas a variance jump is identified within days.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from core.regime.fitted import FloatArray
from core.regime.spec import RegimeModelSpec


class RegimeScope(StrEnum):
    MARKET = "market"
    PAIR_SPREAD = "pair_spread"


SCOPE_SPECS: dict[RegimeScope, RegimeModelSpec] = {
    RegimeScope.MARKET: RegimeModelSpec(k_regimes=2, switching_mean=True, switching_variance=True),
    RegimeScope.PAIR_SPREAD: RegimeModelSpec(
        k_regimes=2, switching_mean=True, switching_variance=True
    ),
}

_NAMES: dict[RegimeScope, tuple[str, str]] = {
    RegimeScope.MARKET: ("low_vol", "high_vol"),
    RegimeScope.PAIR_SPREAD: ("mean_reverting", "trending"),
}


def regime_names(scope: RegimeScope, spec: RegimeModelSpec) -> tuple[str, ...]:
    """Human names per label. Labels are ordered by variance (then mean), lowest first, so
    the volatility names only apply when the variance switches."""
    k = spec.k_regimes
    if not spec.switching_variance:
        return ("low_mean", "high_mean") if k == 2 else tuple(f"mean_rank_{i}" for i in range(k))
    if k == 2:
        return _NAMES[scope]
    return tuple(f"vol_rank_{label}" for label in range(k))


def log_returns_percent(prices: FloatArray) -> FloatArray:
    """100 * diff(log price) along axis 0; prices must be strictly positive."""
    values = np.asarray(prices, dtype=np.float64)
    if values.shape[0] < 2:
        raise ValueError("need at least two prices to form a return")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("prices must be finite and strictly positive")
    returns: FloatArray = 100.0 * np.diff(np.log(values), axis=0)
    return returns


def market_returns(prices: FloatArray) -> FloatArray:
    """Market series: benchmark returns for a 1-D price array, or the equal-weighted
    (daily-rebalanced) universe return for a (bars, symbols) price matrix, in log percent."""
    values = np.asarray(prices, dtype=np.float64)
    if values.ndim == 1:
        return log_returns_percent(values)
    if values.ndim != 2 or values.shape[1] == 0:
        raise ValueError(f"prices must be (bars,) or (bars, symbols), got {values.shape}")
    simple = np.expm1(log_returns_percent(values) / 100.0)
    equal_weighted: FloatArray = 100.0 * np.log1p(simple.mean(axis=1))
    return equal_weighted


def spread_changes(spread: FloatArray) -> FloatArray:
    values = np.asarray(spread, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError("spread must be a 1-D series with at least two values")
    if not np.all(np.isfinite(values)):
        raise ValueError("spread contains non-finite values")
    changes: FloatArray = np.diff(values)
    return changes
