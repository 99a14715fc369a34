"""Backtest events: BacktestRequested, BacktestCompleted, BacktestFailed."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from shared.events.envelope import Payload


class BacktestRequested(Payload):
    EVENT_TYPE = "BacktestRequested"

    request_id: str
    kind: Literal["backtest", "walk_forward"] = "backtest"
    a: str
    b: str
    start: datetime | None = None
    end: datetime | None = None
    interval: str = "1d"
    grid: dict[str, list[float]] = Field(default_factory=dict)
    costs: dict[str, float] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)


class BacktestCompleted(Payload):
    EVENT_TYPE = "BacktestCompleted"

    request_id: str
    kind: Literal["backtest", "walk_forward"]
    pair_id: str
    metrics: dict[str, Any]
    n_trades: int = Field(ge=0)
    n_combinations: int = Field(ge=1, default=1)
    best_params: dict[str, Any] = Field(default_factory=dict)
    published_params_version: str | None = None


class BacktestFailed(Payload):
    EVENT_TYPE = "BacktestFailed"

    request_id: str
    kind: Literal["backtest", "walk_forward"] = "backtest"
    reason: str
