"""Spread of an active pair: online Kalman hedge ratio, z-score over a lookback.

spread_t = log(pa_t) - beta_t * log(pb_t) - alpha_t with (beta_t, alpha_t) the FILTERED
state after the bar at t (KalmanHedgeRatio with x = log pb, y = log pa). The filter is
warm-started at activation from the OLS fit of the screen window and run through that
window, so the z-score has a full lookback from the first live bar.

The tracker state (state, covariance, spread history) is a plain value: the service writes
it to its table in the same transaction as each bar, and a filter rebuilt from it continues
bit-for-bit (the engine's filter keeps no other state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from core.cointegration import KalmanHedgeRatio, ols_hedge_ratio


@dataclass(frozen=True)
class SpreadSettings:
    lookback: int = 60  # spreads in the z-score window
    delta: float = 1e-4  # Kalman state noise (random-walk hedge ratio)
    obs_var: float = 1e-3  # Kalman observation noise (log-price units squared)

    def __post_init__(self) -> None:
        if self.lookback < 2:
            raise ValueError("lookback must be >= 2")


@dataclass(frozen=True)
class TrackerState:
    pair_id: str
    a: str
    b: str
    hedge_ratio: float
    intercept: float
    cov: tuple[float, float, float, float]  # P_{t|t} row-major
    history: tuple[float, ...]  # last `lookback` spreads, oldest first
    n_updates: int
    last_bar_time: datetime | None
    half_life: float | None


@dataclass(frozen=True)
class SpreadPoint:
    pair_id: str
    a: str
    b: str
    bar_time: datetime
    price_a: float
    price_b: float
    spread: float
    z_score: float | None
    hedge_ratio: float
    intercept: float
    hedge_ratio_variance: float
    half_life: float | None


def z_score(history: tuple[float, ...]) -> float | None:
    """(last - mean) / sample std of the window; None when undefined."""
    if len(history) < 2:
        return None
    arr = np.asarray(history)
    sd = float(arr.std(ddof=1))
    if not math.isfinite(sd) or sd <= 0.0:
        return None
    return float((arr[-1] - arr.mean()) / sd)


def _filter(state: TrackerState, s: SpreadSettings) -> KalmanHedgeRatio:
    return KalmanHedgeRatio(
        delta=s.delta,
        obs_var=s.obs_var,
        initial_state=(state.hedge_ratio, state.intercept),
        initial_cov=np.asarray(state.cov).reshape(2, 2),
    )


def _cov_tuple(cov: NDArray[np.float64]) -> tuple[float, float, float, float]:
    c = cov.reshape(4)
    return (float(c[0]), float(c[1]), float(c[2]), float(c[3]))


def start_tracker(
    pair_id: str,
    a: str,
    b: str,
    prices_a: NDArray[np.float64],
    prices_b: NDArray[np.float64],
    bar_time: datetime,
    half_life: float | None,
    s: SpreadSettings,
) -> TrackerState:
    """Warm start on the screen window (prices, not logs) ending at ``bar_time``."""
    la, lb = np.log(prices_a), np.log(prices_b)
    fit = ols_hedge_ratio(la, lb)
    kf = KalmanHedgeRatio(
        delta=s.delta,
        obs_var=s.obs_var,
        initial_state=(float(fit.hedge_ratio), float(fit.intercept)),
    )
    path = kf.run(lb, la)
    spreads = la - path.hedge_ratio * lb - path.intercept
    return TrackerState(
        pair_id=pair_id,
        a=a,
        b=b,
        hedge_ratio=float(path.hedge_ratio[-1]),
        intercept=float(path.intercept[-1]),
        cov=_cov_tuple(path.state_cov[-1]),
        history=tuple(float(v) for v in spreads[-s.lookback :]),
        n_updates=int(la.size),
        last_bar_time=bar_time,
        half_life=half_life,
    )


def update_tracker(
    state: TrackerState, bar_time: datetime, price_a: float, price_b: float, s: SpreadSettings
) -> tuple[TrackerState, SpreadPoint]:
    kf = _filter(state, s)
    la, lb = math.log(price_a), math.log(price_b)
    step = kf.update(lb, la)
    spread = la - step.hedge_ratio * lb - step.intercept
    history = (*state.history, spread)[-s.lookback :]
    new = replace(
        state,
        hedge_ratio=step.hedge_ratio,
        intercept=step.intercept,
        cov=_cov_tuple(step.state_cov),
        history=history,
        n_updates=state.n_updates + 1,
        last_bar_time=bar_time,
    )
    point = SpreadPoint(
        pair_id=state.pair_id,
        a=state.a,
        b=state.b,
        bar_time=bar_time,
        price_a=price_a,
        price_b=price_b,
        spread=spread,
        z_score=z_score(history),
        hedge_ratio=step.hedge_ratio,
        intercept=step.intercept,
        hedge_ratio_variance=float(step.state_cov[0, 0]),
        half_life=state.half_life,
    )
    return new, point
