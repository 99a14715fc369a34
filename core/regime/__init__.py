"""Regime models (no I/O): Markov-switching fits, the online Hamilton filter, canonical labels,
shift detection with hysteresis, what each scope is fitted on, and the per-scope tracker that
runs them bar by bar (used by the regime service and by backtest's regime labels)."""

from core.regime.fitted import (
    FittedRegimeModel,
    data_fingerprint,
    statsmodels_param_names,
)
from core.regime.fitting import (
    RefitSchedule,
    fit_regime_model,
    min_observations,
    statsmodels_model,
)
from core.regime.hamilton import FilterState, OnlineHamiltonFilter
from core.regime.scopes import (
    SCOPE_SPECS,
    RegimeScope,
    log_returns_percent,
    market_returns,
    regime_names,
    spread_changes,
)
from core.regime.shifts import (
    RegimeShift,
    ShiftDetector,
    ShiftDetectorSettings,
    detect_shifts,
)
from core.regime.spec import ModelKind, RegimeModelSpec
from core.regime.tracker import (
    Fitter,
    RefitPolicy,
    ScopeStep,
    ScopeTracker,
    TrackerConfig,
    fit_in_process,
)

__all__ = [
    "SCOPE_SPECS",
    "FilterState",
    "FittedRegimeModel",
    "Fitter",
    "ModelKind",
    "OnlineHamiltonFilter",
    "RefitPolicy",
    "RefitSchedule",
    "RegimeModelSpec",
    "RegimeScope",
    "RegimeShift",
    "ScopeStep",
    "ScopeTracker",
    "ShiftDetector",
    "ShiftDetectorSettings",
    "TrackerConfig",
    "data_fingerprint",
    "detect_shifts",
    "fit_in_process",
    "fit_regime_model",
    "log_returns_percent",
    "market_returns",
    "min_observations",
    "regime_names",
    "spread_changes",
    "statsmodels_model",
    "statsmodels_param_names",
]
