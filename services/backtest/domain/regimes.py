"""Regime labels of every bar of a history, from the regime service's own models.

The walk-forward tunes one parameter set per regime, so each bar needs a label. The model is
the regime service's (services.regime.models): a 2-state Markov switching model fitted on the
history's market returns (equal-weighted legs) or pair-spread changes, then the online
Hamilton filter and the same hysteresis (ShiftDetector) that the live service publishes
shifts with. The fit is deterministic (fixed seed, no random search). Filtering is causal
given the parameters; the parameters are fitted once on the whole requested history, which
is what a research labelling does (the live service refits on a schedule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.backtest.engine.spreads import ols_hedge
from services.regime.models import (
    SCOPE_SPECS,
    OnlineHamiltonFilter,
    RegimeScope,
    ShiftDetector,
    ShiftDetectorSettings,
    fit_regime_model,
    market_returns,
    min_observations,
    regime_names,
    spread_changes,
)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class RegimeLabels:
    labels: NDArray[np.int64] | None  # None = one regime ("all")
    source: str
    names: tuple[str, ...]
    model_version: str | None
    note: str | None = None


def label_regimes(
    prices_a: FloatArray, prices_b: FloatArray, source: str, settings: ShiftDetectorSettings
) -> RegimeLabels:
    if source == "none":
        return RegimeLabels(None, source, ("all",), None)
    scope = RegimeScope.MARKET if source == "market" else RegimeScope.PAIR_SPREAD
    spec = SCOPE_SPECS[scope]
    if scope is RegimeScope.MARKET:
        series = market_returns(np.column_stack([prices_a, prices_b]))
    else:
        alpha, beta = ols_hedge(prices_a, prices_b)
        series = spread_changes(prices_a - alpha - beta * prices_b)
    if series.size < min_observations(spec):
        return RegimeLabels(
            None, source, ("all",), None, f"{series.size} bars too few for a regime model"
        )
    try:
        model = fit_regime_model(series, spec, seed=0)
        probabilities = OnlineHamiltonFilter(model).run(series)
    except (RuntimeError, ValueError, FloatingPointError) as exc:
        return RegimeLabels(None, source, ("all",), None, f"regime fit failed: {exc}")
    detector = ShiftDetector(settings)
    current = np.full(series.size, -1, dtype=np.int64)
    for i, row in enumerate(probabilities):
        detector.update(None if np.isnan(row).any() else row)
        regime = detector.current_regime
        current[i] = -1 if regime is None else regime
    established = np.flatnonzero(current >= 0)
    if established.size == 0:
        return RegimeLabels(None, source, ("all",), model.version, "no regime established")
    # Bars before the first established regime take that regime: the history has to start
    # somewhere, and those bars are in-sample warm-up of the first split anyway.
    current[: established[0]] = current[established[0]]
    # series[i] is the change into bar i + 1; bar 0 takes the label of bar 1.
    labels = np.concatenate([current[:1], current])
    return RegimeLabels(labels, source, regime_names(scope, spec), model.version)
