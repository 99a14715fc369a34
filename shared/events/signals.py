"""Signals and parameter sets: SignalEmitted (signals.v1), ParametersPublished (params.v1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
    time_stop_half_lives: float = Field(gt=0.0)
    sizing: Literal["dollar_neutral", "beta_neutral"] = "dollar_neutral"
    no_trade: bool = False


class ParametersPublished(Payload):
    """A versioned parameter set for `pair_id|regime` (pair_id `*` = every pair)."""

    EVENT_TYPE = "ParametersPublished"

    pair_id: str
    regime: int | None
    version: str
    params: StrategyParameters
    evidence: dict[str, Any] = Field(default_factory=dict)
