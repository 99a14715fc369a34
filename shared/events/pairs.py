"""Pairs events: PairTested, PairStateChanged, SpreadUpdated."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from shared.events.envelope import Payload

PairState = Literal["candidate", "active", "degraded", "retired"]


def pair_id(a: str, b: str) -> str:
    """`A~B` with A the dependent series of the hedge regression."""
    return f"{a}~{b}"


class PairTested(Payload):
    EVENT_TYPE = "PairTested"

    pair_id: str
    a: str
    b: str
    window_start: datetime
    window_end: datetime
    n_obs: int = Field(ge=1)
    method: str = "engle-granger"
    hedge_ratio: float
    intercept: float = 0.0
    adf_stat: float
    pvalue: float
    pvalue_adjusted: float | None = None
    n_tests: int = Field(ge=1, default=1)
    lag: int = Field(ge=0)
    crit_values: dict[str, float] = Field(default_factory=dict)
    half_life: float | None = None
    hurst: float | None = None


class PairStateChanged(Payload):
    EVENT_TYPE = "PairStateChanged"

    pair_id: str
    a: str
    b: str
    from_state: PairState | None
    to_state: PairState
    reason: str
    as_of: datetime
    hedge_ratio: float | None = None
    pvalue: float | None = None
    half_life: float | None = None


class SpreadUpdated(Payload):
    EVENT_TYPE = "SpreadUpdated"

    pair_id: str
    a: str
    b: str
    bar_time: datetime
    interval: str = "1d"
    price_a: float
    price_b: float
    spread: float
    z_score: float | None
    hedge_ratio: float
    intercept: float = 0.0
    hedge_ratio_variance: float | None = None
    half_life: float | None = None
    lookback: int = Field(ge=2)
