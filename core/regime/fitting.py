"""Scheduled (not per-bar) fitting with statsmodels as the engine."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import minimize
from statsmodels.tsa.regime_switching.markov_autoregression import MarkovAutoregression
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

from core.regime.fitted import (
    FittedRegimeModel,
    FloatArray,
    data_fingerprint,
    statsmodels_param_names,
)
from core.regime.spec import RegimeModelSpec

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
    start_hess_inv: FloatArray | None = None,
    search_reps: int = 0,
    seed: int = 0,
    maxiter: int = 100,
) -> FittedRegimeModel:
    """Maximum-likelihood fit; `start_params` are in statsmodels' order for `spec`.

    With `start_hess_inv` (the previous fit's `hess_inv_matrix()`) as well, BFGS starts from
    the previous parameters *and* curvature (see `_warm_bfgs`); statsmodels' own fit is the
    fallback whenever that path cannot run.
    """
    endog = as_endog(values, spec)
    model = statsmodels_model(endog, spec)
    if list(model.param_names) != statsmodels_param_names(spec):
        raise RuntimeError(f"unexpected statsmodels param layout {model.param_names}")
    if start_params is not None and start_hess_inv is not None and search_reps == 0:
        warm = _warm_bfgs(
            model, np.asarray(start_params, dtype=np.float64), start_hess_inv, maxiter
        )
        if warm is not None:
            params, llf, hess_inv = warm
            return _fitted(spec, model, endog, params, llf, hess_inv)
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
    llf = float(result.llf)
    if not np.isfinite(llf):
        raise RuntimeError("regime model fit did not produce a finite log-likelihood")
    retvals = result.mle_retvals if isinstance(result.mle_retvals, dict) else {}
    curvature = retvals.get("Hinv")
    metric = None if curvature is None else np.asarray(curvature, dtype=np.float64)
    return _fitted(spec, model, endog, np.asarray(result.params), llf, metric)


def _fitted(
    spec: RegimeModelSpec,
    model: MarkovRegression | MarkovAutoregression,
    endog: FloatArray,
    params: FloatArray,
    llf: float,
    hess_inv: FloatArray | None,
) -> FittedRegimeModel:
    raw = dict(zip(model.param_names, (float(v) for v in params), strict=True))
    return FittedRegimeModel.from_raw_params(
        spec,
        raw,
        llf=llf,
        nobs=int(model.nobs),
        data_sha256=data_fingerprint(endog),
        hess_inv=hess_inv,
    )


EM_STEPS = 5  # statsmodels' own default `em_iter`


def _warm_bfgs(
    model: MarkovRegression | MarkovAutoregression,
    start_params: FloatArray,
    start_hess_inv: FloatArray,
    maxiter: int,
) -> tuple[FloatArray, float, FloatArray] | None:
    """BFGS from the previous fit's optimum with its inverse Hessian as the first metric.

    statsmodels' fit starts every BFGS run from the identity, and the parameters differ in
    scale by ~1e6 (transition logits vs. daily variances), so most of its ~35 gradient
    evaluations per refit only relearn the curvature the previous refit ended with; the
    windows of consecutive refits overlap almost entirely, so that curvature is still right.
    Same objective, gradient and tolerance as statsmodels (-loglike/nobs, complex-step score,
    gtol 1e-5): 3-4x fewer gradient evaluations. None when this path cannot run.
    """
    metric = 0.5 * (start_hess_inv + start_hess_inv.T)
    nobs = float(model.nobs)
    try:
        np.linalg.cholesky(metric)  # BFGS needs a positive-definite start
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            # The same few EM steps statsmodels' fit takes first: they leave the start's basin
            # when the new bars made it a poor one, which BFGS alone would stay in.
            em = model._fit_em(start_params, transformed=True, maxiter=EM_STEPS, return_params=True)
            x0 = model.untransform_params(np.asarray(em, dtype=np.float64))
            if not np.all(np.isfinite(x0)):
                return None
            result = minimize(
                lambda x: -model.loglike(x, transformed=False) / nobs,
                x0,
                jac=lambda x: -model.score(x, transformed=False) / nobs,
                method="BFGS",
                options={"hess_inv0": metric, "gtol": 1e-5, "maxiter": maxiter},
            )
            params = np.asarray(model.transform_params(result.x), dtype=np.float64)
            llf = float(model.loglike(params))
    except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError):
        return None
    if not np.isfinite(llf) or not np.all(np.isfinite(params)):
        return None
    return params, llf, np.asarray(result.hess_inv, dtype=np.float64)


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
