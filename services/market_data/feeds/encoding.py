"""Tick envelopes as JSON bytes, built directly from a template (the producer's hot path).

The bytes decode to the same `Envelope[Tick]` as `make_envelope(...).to_bytes()` would
(tests check it); building them by hand is several times cheaper than constructing and
dumping two pydantic models per trade. A malformed tick (NaN price, bad symbol) is encoded
as faithfully as JSON allows (NaN as the `NaN` token that Python's json reads), so it
reaches the consumer and its dead-letter topic.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Protocol

from shared.events import derive_id, ensure_utc

_TEMPLATE = (
    '{"event_id":"%s","event_type":"Tick","schema_version":1,"occurred_at":"%s",'
    '"produced_at":"%s","producer":%s,"key":%s,"payload":{"symbol":%s,"ts":"%s",'
    '"price":%s,"size":%s,"trade_id":%s,"source":%s}}'
)


class TickLike(Protocol):
    """A Tick payload or a replay FeedTick: the fields an envelope needs."""

    @property
    def symbol(self) -> str: ...
    @property
    def ts(self) -> datetime: ...
    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def trade_id(self) -> str | None: ...
    @property
    def source(self) -> str: ...


def _number(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else json.dumps(float(value))


def tick_event_bytes(tick: TickLike, *, producer: str, produced_at: datetime) -> bytes:
    """The market.ticks.v1 record value; event_id is the tick id (`Tick.tick_id`)."""
    ts = ensure_utc(tick.ts)
    event_id = derive_id("tick", tick.symbol, ts, tick.trade_id or "", tick.price, tick.size)
    ts_text = ts.isoformat()
    symbol = json.dumps(tick.symbol)
    return (
        _TEMPLATE
        % (
            event_id,
            ts_text,
            ensure_utc(produced_at).isoformat(),
            json.dumps(producer),
            symbol,
            symbol,
            ts_text,
            _number(tick.price),
            _number(tick.size),
            json.dumps(tick.trade_id),
            json.dumps(tick.source),
        )
    ).encode("utf-8")
