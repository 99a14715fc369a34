"""Market data events: Tick (market.ticks.v1) and Bar (market.bars.v1)."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from shared.events.envelope import (
    EARLIEST_EVENT_TIME,
    LATEST_EVENT_TIME,
    Payload,
    derive_id,
    ensure_utc,
)

SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-_/]{0,19}$")
BarInterval = Literal["1m", "1h", "1d"]
INTERVAL_SECONDS: dict[str, int] = {"1m": 60, "1h": 3600, "1d": 86400}


MAX_TEXT_FIELD = 128  # characters of a tick's trade id or source


class Tick(Payload):
    """One trade (or one close print in a replayed daily file)."""

    EVENT_TYPE = "Tick"

    symbol: str
    ts: datetime
    price: float
    size: float = 0.0
    # Bounded: a 900 KB `source` was accepted and stored, once per tick.
    trade_id: str | None = Field(default=None, max_length=MAX_TEXT_FIELD)
    source: str = Field(default="unknown", max_length=MAX_TEXT_FIELD)

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, value: str) -> str:
        if not SYMBOL_PATTERN.match(value):
            raise ValueError(f"malformed symbol {value!r}")
        return value

    @field_validator("ts")
    @classmethod
    def _ts(cls, value: datetime) -> datetime:
        # Bounded like every event time (envelope.py): a trade before 1900 or from 2100 on is
        # a unit or parsing error, whatever the envelope says.
        value = ensure_utc(value)
        if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
            raise ValueError(
                f"ts {value.isoformat()} outside [{EARLIEST_EVENT_TIME.date()}, "
                f"{LATEST_EVENT_TIME.date()})"
            )
        return value

    @field_validator("price")
    @classmethod
    def _price(cls, value: float) -> float:
        if not math.isfinite(value) or value <= 0.0:
            raise ValueError(f"price must be finite and positive, got {value!r}")
        return value

    @field_validator("size")
    @classmethod
    def _size(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0.0:
            raise ValueError(f"size must be finite and non-negative, got {value!r}")
        return value

    def tick_id(self) -> uuid.UUID:
        return derive_id("tick", self.symbol, self.ts, self.trade_id or "", self.price, self.size)


def bar_id(symbol: str, interval: str, start: datetime) -> uuid.UUID:
    return derive_id("bar", symbol, interval, start)


class Bar(Payload):
    """An OHLCV bar; revision > 0 is a correction of the bar with the same bar_id."""

    EVENT_TYPE = "Bar"
    # A NaN close put regime in a crash loop and pairs stored it: a bar that is not finite
    # is poison, dead-lettered by every consumer's decoder.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    bar_id: uuid.UUID
    symbol: str
    interval: BarInterval
    start: datetime
    end: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float = Field(ge=0.0)
    vwap: float
    trade_count: int = Field(ge=1)
    revision: int = Field(ge=0, default=0)

    @field_validator("start", "end")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return ensure_utc(value)

    def event_id(self) -> uuid.UUID:
        return derive_id("bar-event", self.symbol, self.interval, self.start, self.revision)
