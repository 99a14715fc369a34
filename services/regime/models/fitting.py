"""Scheduled (not per-bar) fitting with statsmodels as the engine."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from services.regime.models.fitted import (
    FittedRegimeModel,
    FloatArray,
    data_fingerprint,
    statsmodels_param_names,
)
from services.regime.models.spec import RegimeModelSpec

# Below this the likelihood surface is too flat for k regimes to be identified reliably.
MIN_OBS_PER_REGIME = 10


def min_observations(spec: RegimeModelSpec) -> int:
    return spec.order + MIN_OBS_PER_REGIME * spec.k_regimes


def as_endog(values: Sequence[float] | FloatArray, spec: RegimeModelSpec) -> FloatArray:
    endog = np.asarray(values, dtype=np.float64)
    if endog.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {endog.shape}")
    if not np.all(np.isfinite(endog)):
        bad = int(np.flatnonzero(~np.isfinite(endog))[0])
        raise ValueError(f"series has a non-finite value at position {bad}")
    need = min_observations(spec)
    if endog.size < need:
        raise ValueError(
            f"too few observations: {endog.size} < {need} for "
            f"k_regimes={spec.k_regimes}, order={spec.order}"
        )
    return endog


def statsmodels_model(
    endog: Sequence[float] | FloatArray, spec: RegimeModelSpec
) -> MarkovRegression | MarkovAutoregression:
    """The statsmodels model for `spec`; also the oracle the online filter is tested against."""
    data = np.asarray(endog, dtype=np.float64)
    if spec.order == 0:
        return MarkovRegression(
            data,
            k_regimes=spec.k_regimes,
            trend="c",
            switching_trend=spec.switching_mean,
            switching_variance=spec.switching_variance,
        )
    return MarkovAutoregression(
        data,
        k_regimes=spec.k_regimes,
        order=spec.order,
        trend="c",
        switching_trend=spec.switching_mean,
        switching_variance=spec.switching_variance,
        switching_ar=spec.switching_ar,
    )


def fit_regime_model(
    values: Sequence[float] | FloatArray,
    spec: RegimeModelSpec,
    *,
    start_params: Sequence[float] | FloatArray | None = None,
    search_reps: int = 0,
    seed: int = 0,
    maxiter: int = 100,
) -> FittedRegimeModel:
    """Maximum-likelihood fit; `start_params` are in statsmodels' order for `spec`."""
    endog = as_endog(values, spec)
    model = statsmodels_model(endog, spec)
    if list(model.param_names) != statsmodels_param_names(spec):
        raise RuntimeError(f"unexpected statsmodels param layout {model.param_names}")
    kwargs: dict[str, Any] = {"disp": False, "maxiter": maxiter}
    if start_params is not None:
        kwargs["start_params"] = np.asarray(start_params, dtype=np.float64)
    if search_reps > 0:
        kwargs["search_reps"] = search_reps
    # statsmodels' random search draws from the global numpy RNG: seed it for reproducible fits.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            # Convergence/overflow chatter during the search is expected and not actionable.
            warnings.simplefilter("ignore")
            result = model.fit(**kwargs)
    finally:
        np.random.set_state(state)
    raw = dict(zip(model.param_names, (float(v) for v in result.params), strict=True))
    llf = float(result.llf)
    if not np.isfinite(llf):
        raise RuntimeError("regime model fit did not produce a finite log-likelihood")
    return FittedRegimeModel.from_raw_params(
        spec, raw, llf=llf, nobs=int(model.nobs), data_sha256=data_fingerprint(endog)
    )


@dataclass(frozen=True, slots=True)
class RefitSchedule:
    """When to refit: every `interval` of bar time, on the trailing `window_bars` bars.

    Time comes in as arguments (bar timestamps), never from the wall clock.
    """

    interval: timedelta = timedelta(days=7)
    window_bars: int = 2520
    min_bars: int = 250

    def __post_init__(self) -> None:
        if self.interval <= timedelta(0):
            raise ValueError("interval must be positive")
        if self.min_bars < 1 or self.window_bars < self.min_bars:
            raise ValueError("need 1 <= min_bars <= window_bars")

    def is_due(self, last_fit_at: datetime | None, now: datetime, bars_available: int) -> bool:
        if bars_available < self.min_bars:
            return False
        return last_fit_at is None or now - last_fit_at >= self.interval

    def window(self, values: FloatArray) -> FloatArray:
        return values[-self.window_bars :]
