"""Online Hamilton filter: one bar at a time with fixed fitted parameters, no refit per bar.

The recursion is statsmodels' (`cy_hamilton_filter_log`), run in probability space with a
per-step rescaling so that one update is a handful of small NumPy operations. For an AR(p)
model the state is the joint filtered probability of (S_t, S_{t-1}, ..., S_{t-p}), i.e.
k**(p+1) numbers, plus the last p observations, exactly as statsmodels expands it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.regime.fitted import FittedRegimeModel, FloatArray

# statsmodels bounds probabilities away from zero before taking logs; do the same so that
# boundary estimates (p = 0 or 1) give identical recursions.
_PROBABILITY_FLOOR = 1e-20
_LOG_2PI = math.log(2.0 * math.pi)


def steady_state_probabilities(transition_matrix: FloatArray) -> FloatArray:
    """Ergodic distribution of a row-stochastic matrix, computed as statsmodels does."""
    m = transition_matrix.shape[0]
    left_stochastic = transition_matrix.T
    a = np.vstack([(np.eye(m) - left_stochastic), np.ones((1, m))])
    probabilities: FloatArray = np.linalg.pinv(a)[:, -1]
    return np.maximum(probabilities, _PROBABILITY_FLOOR)


@dataclass(frozen=True, slots=True)
class FilterState:
    """Everything needed to resume the filter: joint filtered probabilities and lags."""

    model_version: str
    joint_probabilities: tuple[float, ...]
    lags: tuple[float, ...]
    bars_seen: int
    log_likelihood: float


class OnlineHamiltonFilter:
    """Advance with `update(y)`; returns filtered probabilities per label (None during AR warm-up)."""

    def __init__(self, model: FittedRegimeModel) -> None:
        self.model = model
        k, p = model.k_regimes, model.order
        self._k, self._p = k, p
        # Left-stochastic [to, from], as in statsmodels' regime_transition.
        self._transition = np.maximum(model.transition_matrix.T, _PROBABILITY_FLOOR)
        self._means = model.means
        self._variances = model.variances
        self._log_norm = -0.5 * (np.log(self._variances) + _LOG_2PI)
        self._half_precision = 0.5 / self._variances
        ar = model.ar_coefficients
        self._ar = ar
        # Axis 0 is S_t, axis j is S_{t-j}. The residual y_t - mu(S_t) - sum_j phi_j(S_t) *
        # (y_{t-j} - mu(S_{t-j})) splits into a regime-path constant, precomputed here, and
        # sum_j phi_j(S_t) y_{t-j}, which only depends on S_t.
        ones = (1,) * p
        path_constant = self._means.reshape((k, *ones)).copy()
        for j in range(p):
            lag_mean = self._means.reshape((1,) * (j + 1) + (k,) + (1,) * (p - j - 1))
            path_constant = path_constant - ar[:, j].reshape((k, *ones)) * lag_mean
        self._path_constant = path_constant
        self._now_shape = (k, *ones)
        self._half_precision_now = self._half_precision.reshape(self._now_shape)
        self._log_norm_now = self._log_norm.reshape(self._now_shape)
        self._transition_joint = self._transition.reshape((k, k, *(1,) * max(p - 1, 0)))
        self._joint = self._initial_joint()
        self._lags: list[float] = []  # most recent first
        self._lag_values = np.zeros(p)
        self._bars_seen = 0
        self._log_likelihood = 0.0
        self._filtered: FloatArray | None = None

    def _initial_joint(self) -> FloatArray:
        joint = steady_state_probabilities(self.model.transition_matrix)
        for i in range(self._p):
            joint = self._transition.reshape((self._k, self._k, *(1,) * i)) * joint
        return joint

    @property
    def log_likelihood(self) -> float:
        """Sum of log f(y_t | Y_{t-1}) over the bars filtered so far (statsmodels' llf)."""
        return self._log_likelihood

    @property
    def bars_seen(self) -> int:
        return self._bars_seen

    @property
    def filtered_probabilities(self) -> FloatArray | None:
        return None if self._filtered is None else self._filtered.copy()

    def predicted_probabilities(self) -> FloatArray:
        """Pr(S_{t+1} = label | Y_t) for the next bar."""
        marginal = self._joint.reshape(self._k, -1).sum(axis=1)
        predicted: FloatArray = self._transition @ marginal
        normalised: FloatArray = predicted / predicted.sum()
        return normalised

    def update(self, y: float) -> FloatArray | None:
        value = float(y)
        if not math.isfinite(value):
            raise ValueError(f"observation must be finite, got {y!r}")
        self._bars_seen += 1
        p = self._p
        if len(self._lags) < p:
            self._lags.insert(0, value)
            self._lag_values = np.array(self._lags + [0.0] * (p - len(self._lags)))
            return None
        if p == 0:
            predicted = self._transition @ self._joint
            resid = value - self._means
            loglik = self._log_norm - self._half_precision * resid * resid
        else:
            marginal = self._joint.sum(axis=-1)
            predicted = self._transition_joint * marginal[np.newaxis]
            ar_term = (self._ar @ self._lag_values).reshape(self._now_shape)
            resid = (value - ar_term) - self._path_constant
            loglik = self._log_norm_now - self._half_precision_now * resid * resid
        peak = float(loglik.max())
        weighted = predicted * np.exp(loglik - peak)
        total = float(weighted.sum())
        if total <= 0.0 or not math.isfinite(total):
            raise FloatingPointError("filter likelihood underflowed; the model cannot explain y")
        self._log_likelihood += peak + math.log(total)
        self._joint = weighted / total
        if p:
            self._lags.insert(0, value)
            self._lags.pop()
            self._lag_values[1:] = self._lag_values[:-1]
            self._lag_values[0] = value
            self._filtered = self._joint.reshape(self._k, -1).sum(axis=1)
        else:
            self._filtered = self._joint
        return self._filtered.copy()

    def run(self, values: Sequence[float] | FloatArray) -> FloatArray:
        """Filter a whole series; rows of NaN where the AR warm-up leaves the regime undefined."""
        out = np.full((len(values), self._k), np.nan)
        for row, value in enumerate(values):
            probabilities = self.update(float(value))
            if probabilities is not None:
                out[row] = probabilities
        return out

    def state(self) -> FilterState:
        return FilterState(
            model_version=self.model.version,
            joint_probabilities=tuple(float(x) for x in self._joint.ravel()),
            lags=tuple(self._lags),
            bars_seen=self._bars_seen,
            log_likelihood=self._log_likelihood,
        )

    @classmethod
    def resume(cls, model: FittedRegimeModel, state: FilterState) -> OnlineHamiltonFilter:
        if state.model_version != model.version:
            raise ValueError(f"state is for model {state.model_version}, not {model.version}")
        instance = cls(model)
        joint = np.asarray(state.joint_probabilities, dtype=np.float64)
        if joint.size != instance._joint.size or len(state.lags) > model.order:
            raise ValueError("filter state does not match the model's order and regime count")
        instance._joint = joint.reshape(instance._joint.shape)
        instance._lags = list(state.lags)
        padding = [0.0] * (model.order - len(state.lags))
        instance._lag_values = np.array(instance._lags + padding, dtype=np.float64)
        instance._bars_seen = state.bars_seen
        instance._log_likelihood = state.log_likelihood
        if len(instance._lags) == model.order and state.bars_seen > model.order:
            instance._filtered = instance._joint.reshape(model.k_regimes, -1).sum(axis=1)
        return instance
