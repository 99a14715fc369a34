"""Pure numeric core of the regime service: fitting, online filtering, labels, shifts."""

from services.regime.models.fitted import (
    FittedRegimeModel,
    data_fingerprint,
    statsmodels_param_names,
)
from services.regime.models.fitting import (
    RefitSchedule,
    fit_regime_model,
    min_observations,
    statsmodels_model,
)
from services.regime.models.hamilton import FilterState, OnlineHamiltonFilter
from services.regime.models.scopes import (
    SCOPE_SPECS,
    RegimeScope,
    log_returns_percent,
    market_returns,
    regime_names,
    spread_changes,
)
from services.regime.models.shifts import (
    RegimeShift,
    ShiftDetector,
    ShiftDetectorSettings,
    detect_shifts,
)
from services.regime.models.spec import ModelKind, RegimeModelSpec

__all__ = [
    "SCOPE_SPECS",
    "FilterState",
    "FittedRegimeModel",
    "ModelKind",
    "OnlineHamiltonFilter",
    "RefitSchedule",
    "RegimeModelSpec",
    "RegimeScope",
    "RegimeShift",
    "ShiftDetector",
    "ShiftDetectorSettings",
    "data_fingerprint",
    "detect_shifts",
    "fit_regime_model",
    "log_returns_percent",
    "market_returns",
    "min_observations",
    "regime_names",
    "spread_changes",
    "statsmodels_model",
    "statsmodels_param_names",
]
