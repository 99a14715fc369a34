"""Kalman filter for a dynamic hedge ratio.

Observation ``y_t = beta_t * x_t + alpha_t + v_t`` with ``v_t ~ N(0, obs_var)``; the state
``[beta_t, alpha_t]`` follows a random walk with covariance ``state_cov`` per bar. The filter
predicts the state, forecasts ``y_t`` from ``x_t``, then updates on the forecast error. The
reported forecast error ``y_t - (beta_{t|t-1} x_t + alpha_{t|t-1})`` is the spread signal and its
variance ``x' P_{t|t-1} x + obs_var`` its natural z-score scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class KalmanStep:
    hedge_ratio: float  # filtered beta_{t|t}
    intercept: float  # filtered alpha_{t|t}
    state_cov: FloatArray  # (2, 2) filtered covariance P_{t|t}
    forecast_error: float  # y_t minus its one-step forecast
    forecast_variance: float


@dataclass(frozen=True)
class KalmanPath:
    hedge_ratio: FloatArray  # (T,)
    intercept: FloatArray  # (T,)
    state_cov: FloatArray  # (T, 2, 2)
    forecast_error: FloatArray  # (T,)
    forecast_variance: FloatArray  # (T,)


def _check_cov(name: str, cov: FloatArray) -> None:
    if cov.shape != (2, 2) or not np.allclose(cov, cov.T):
        raise ValueError(f"{name} must be a symmetric 2x2 matrix")
    if np.any(np.linalg.eigvalsh(cov) < 0.0):
        raise ValueError(f"{name} must be positive semi-definite")


class KalmanHedgeRatio:
    """Online filter: call :meth:`update` once per bar with the two legs' (log) prices."""

    def __init__(
        self,
        *,
        delta: float = 1e-4,
        obs_var: float = 1e-3,
        state_cov: ArrayLike | None = None,
        initial_state: ArrayLike = (0.0, 0.0),
        initial_cov: ArrayLike | None = None,
    ) -> None:
        """``delta`` sets ``state_cov = delta / (1 - delta) * I`` unless ``state_cov`` is given."""
        if not 0.0 < delta < 1.0:
            raise ValueError(f"delta must be in (0, 1), got {delta}")
        if obs_var <= 0.0:
            raise ValueError(f"obs_var must be > 0, got {obs_var}")
        q = (
            np.eye(2) * (delta / (1.0 - delta))
            if state_cov is None
            else np.asarray(state_cov, dtype=np.float64)
        )
        p0 = np.eye(2) if initial_cov is None else np.asarray(initial_cov, dtype=np.float64)
        _check_cov("state_cov", q)
        _check_cov("initial_cov", p0)
        state = np.asarray(initial_state, dtype=np.float64)
        if state.shape != (2,):
            raise ValueError("initial_state must be [hedge_ratio, intercept]")
        self.state_cov_step = q
        self.obs_var = float(obs_var)
        self._state = state.copy()
        self._cov = p0.copy()

    @property
    def state(self) -> FloatArray:
        return self._state.copy()

    def update(self, x: float, y: float) -> KalmanStep:
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError(f"non-finite observation x={x}, y={y}")
        h = np.array([x, 1.0])
        cov_pred = self._cov + self.state_cov_step
        error = float(y - h @ self._state)
        ph = cov_pred @ h
        variance = float(h @ ph + self.obs_var)
        gain = ph / variance
        self._state = self._state + gain * error
        # Joseph form keeps the covariance symmetric positive definite over long runs.
        i_kh = np.eye(2) - np.outer(gain, h)
        self._cov = i_kh @ cov_pred @ i_kh.T + self.obs_var * np.outer(gain, gain)
        return KalmanStep(
            hedge_ratio=float(self._state[0]),
            intercept=float(self._state[1]),
            state_cov=self._cov.copy(),
            forecast_error=error,
            forecast_variance=variance,
        )

    def run(self, x: ArrayLike, y: ArrayLike) -> KalmanPath:
        """Filter a whole series from the current state (advances the filter)."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        if xa.shape != ya.shape or xa.ndim != 1:
            raise ValueError("x and y must be 1-D arrays of equal length")
        t_len = xa.shape[0]
        beta = np.empty(t_len)
        alpha = np.empty(t_len)
        covs = np.empty((t_len, 2, 2))
        errors = np.empty(t_len)
        variances = np.empty(t_len)
        for t in range(t_len):
            step = self.update(float(xa[t]), float(ya[t]))
            beta[t] = step.hedge_ratio
            alpha[t] = step.intercept
            covs[t] = step.state_cov
            errors[t] = step.forecast_error
            variances[t] = step.forecast_variance
        return KalmanPath(beta, alpha, covs, errors, variances)
