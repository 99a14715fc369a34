"""Signals and parameter sets: SignalEmitted (signals.v1), ParametersPublished (params.v1)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from shared.events.envelope import Payload

SignalAction = Literal[
    "open_long_spread", "open_short_spread", "close", "stop", "time_stop", "forced_close"
]


class Leg(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    symbol: str
    side: Literal["buy", "sell"]
    weight: float = Field(ge=0.0)


class SignalEmitted(Payload):
    EVENT_TYPE = "SignalEmitted"

    signal_id: str
    pair_id: str
    action: SignalAction
    reason: str
    bar_time: datetime
    z_score: float | None
    hedge_ratio: float
    regime: int | None = None
    params_version: str
    legs: list[Leg]


class StrategyParameters(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    entry_z: float = Field(gt=0.0)
    exit_z: float = Field(ge=0.0)
    stop_z: float = Field(gt=0.0)
    lookback: int = Field(ge=2)
    # inf = no time stop; written as null on the wire (JSON has no infinity).
    time_stop_half_lives: float | None = Field(gt=0.0, allow_inf_nan=True)
    sizing: Literal["dollar_neutral", "beta_neutral"] = "dollar_neutral"
    no_trade: bool = False

    @field_validator("time_stop_half_lives", mode="after")
    @classmethod
    def _no_time_stop_is_infinite(cls, value: float | None) -> float:
        if value is None or value == math.inf:
            return math.inf
        if not math.isfinite(value):
            raise ValueError("time_stop_half_lives must be > 0, or inf/null for no time stop")
        return value

    @field_serializer("time_stop_half_lives")
    def _infinite_as_null(self, value: float) -> float | None:
        return None if math.isinf(value) else value


class ParametersPublished(Payload):
    """A versioned parameter set for `pair_id|regime` (pair_id `*` = every pair)."""

    EVENT_TYPE = "ParametersPublished"

    pair_id: str
    regime: int | None
    version: str
    params: StrategyParameters
    evidence: dict[str, Any] = Field(default_factory=dict)
