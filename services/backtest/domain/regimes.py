"""Regime labels of every bar of a history, from the tracker the regime service runs.

The walk-forward tunes one parameter set per regime, so each bar needs a label, and a label
may only use what was known at that bar, or the out-of-sample results would see the future.
So the history is run through the same ScopeTracker as the regime service (core.regime),
bar by bar, exactly as the live service runs: scheduled refits on a trailing window, the
online Hamilton filter in between, the same hysteresis (ShiftDetector) that publishes
shifts. Pair-spread changes use a hedge ratio estimated on the trailing window, never on
bars after the change. Bars before the first regime is established take that regime (they
are the first split's in-sample warm-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from core.cointegration import rolling_ols_hedge_ratio
from core.regime import (
    SCOPE_SPECS,
    RefitPolicy,
    RegimeScope,
    ScopeTracker,
    ShiftDetectorSettings,
    TrackerConfig,
    market_returns,
    regime_names,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RegimeLabels:
    labels: NDArray[np.int64] | None  # None = one regime ("all")
    source: str
    names: tuple[str, ...]
    model_version: str | None
    note: str | None = None


# Quarterly refits on a three-year trailing window (the demo's schedule): warm-started, so a
# 33-year daily history costs ~130 fits, not the live default's weekly ~1,700.
LABEL_REFIT = RefitPolicy(every_bars=63, window_bars=756, min_bars=250)
_ORIGIN = datetime(1970, 1, 1, tzinfo=UTC)  # the tracker only needs bar times in order


def label_regimes(
    prices_a: FloatArray,
    prices_b: FloatArray,
    source: str,
    settings: ShiftDetectorSettings,
    refit: RefitPolicy = LABEL_REFIT,
) -> RegimeLabels:
    if source == "none":
        return RegimeLabels(None, source, ("all",), None)
    scope = RegimeScope.MARKET if source == "market" else RegimeScope.PAIR_SPREAD
    spec = SCOPE_SPECS[scope]
    if scope is RegimeScope.MARKET:
        series = market_returns(np.column_stack([prices_a, prices_b]))
    else:
        series = trailing_hedge_spread_changes(prices_a, prices_b, refit.window_bars)
    if series.size < refit.min_bars:
        return RegimeLabels(
            None, source, ("all",), None, f"{series.size} bars too few for a regime model"
        )
    tracker = ScopeTracker(scope.value, TrackerConfig(scope, spec, refit, settings))
    current = np.full(series.size, -1, dtype=np.int64)
    for i, value in enumerate(series):
        step = tracker.observe(_ORIGIN + timedelta(days=i), float(value))
        regime = None if step is None else step.regime
        current[i] = -1 if regime is None else regime
    version = tracker.model.version if tracker.model is not None else None
    established = np.flatnonzero(current >= 0)
    if established.size == 0:
        return RegimeLabels(None, source, ("all",), version, "no regime established")
    current[: established[0]] = current[established[0]]
    # series[i] is the change into bar i + 1; bar 0 takes the label of bar 1.
    labels = np.concatenate([current[:1], current])
    return RegimeLabels(labels, source, regime_names(scope, spec), version)


def trailing_hedge_spread_changes(
    prices_a: FloatArray, prices_b: FloatArray, window: int
) -> FloatArray:
    """Change of the spread a - beta * b into each bar, beta by OLS on the `window` bars
    before it (all bars before it while fewer): changes[i] is the change into bar i + 1.

    The intercept cancels in a change. Where the bars before have no hedge ratio (a single
    bar, a flat leg), beta is 0.
    """
    a = np.asarray(prices_a, dtype=np.float64)
    b = np.asarray(prices_b, dtype=np.float64)
    # Row t of the expanding-then-rolling fit uses bars up to t: the change into t uses row t-1.
    fitted = rolling_ols_hedge_ratio(a, b, window, expanding=True).hedge_ratio
    beta = np.nan_to_num(fitted[:-1], nan=0.0)
    changes: FloatArray = np.diff(a) - beta * np.diff(b)
    return changes
