"""A websocket JSON trade feed: field mapping, message filter, reconnect with backoff.

Exchanges send trades as one JSON object or a list of them, with their own field names,
e.g. {"e": "trade", "s": "BTCUSDT", "p": "42000.1", "q": "0.01", "T": 1700000000000,
"t": 123}. `FieldMapping` names the fields, `match` keeps only trade messages (subscription
acks and heartbeats are ignored), and each trade becomes a validated `Tick`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import websockets
from pydantic import ValidationError

from shared.events import Tick

log = logging.getLogger(__name__)
TsUnit = Literal["s", "ms", "us", "ns", "iso"]
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FieldMapping:
    symbol: str = "symbol"
    price: str = "price"
    size: str | None = "size"
    ts: str = "ts"
    ts_unit: TsUnit = "ms"
    trade_id: str | None = "trade_id"
    source: str = "websocket"

    @classmethod
    def from_json(cls, text: str) -> FieldMapping:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"mapping is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError('mapping must be a JSON object like {"symbol": "s", ...}')
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown mapping key(s): {', '.join(unknown)}")
        if data.get("ts_unit", "ms") not in (*_PER_SECOND, "iso"):
            raise ValueError(f"ts_unit must be one of s, ms, us, ns, iso; got {data['ts_unit']!r}")
        return cls(**data)

    def to_tick(self, message: Mapping[str, Any]) -> Tick:
        """The trade in a message; raises ValueError (or KeyError) when it is not one."""
        raw_ts = message[self.ts]
        if self.ts_unit == "iso":
            ts = datetime.fromisoformat(str(raw_ts))
        else:
            count = int(raw_ts) if isinstance(raw_ts, (int, str)) else float(raw_ts)
            ts = EPOCH + timedelta(microseconds=count * 1_000_000 // _PER_SECOND[self.ts_unit])
        trade_id = message.get(self.trade_id) if self.trade_id else None
        return Tick(
            symbol=str(message[self.symbol]).upper(),
            ts=ts,
            price=float(message[self.price]),
            size=float(message[self.size]) if self.size and self.size in message else 0.0,
            trade_id=None if trade_id is None else str(trade_id),
            source=self.source,
        )


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: initial, doubling up to maximum; max_attempts None = forever."""

    initial: float = 0.5
    maximum: float = 30.0
    max_attempts: int | None = None

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.initial * 2 ** max(0, attempt - 1)))


@dataclass
class FeedStats:
    messages: int = 0
    ticks: int = 0
    ignored: int = 0
    invalid: int = 0
    connects: int = 0
    last_error: str | None = None


Connect = Callable[[str], Any]


@dataclass
class WebsocketTradeFeed:
    url: str
    mapping: FieldMapping = field(default_factory=FieldMapping)
    match: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"e": "trade"}
    backoff: Backoff = field(default_factory=Backoff)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    connect: Connect = websockets.connect
    stats: FeedStats = field(default_factory=FeedStats)

    def parse(self, text: str | bytes) -> list[Tick]:
        """The trades of one websocket message (an object or a list of objects)."""
        self.stats.messages += 1
        try:
            data = json.loads(text)
        except ValueError as exc:
            self._invalid(f"message is not JSON: {exc}")
            return []
        items = data if isinstance(data, list) else [data]
        ticks: list[Tick] = []
        for item in items:
            if not isinstance(item, dict) or any(item.get(k) != v for k, v in self.match.items()):
                self.stats.ignored += 1
                continue
            try:
                ticks.append(self.mapping.to_tick(item))
            except (KeyError, TypeError, ValueError, ValidationError, OverflowError) as exc:
                self._invalid(f"trade message not usable ({type(exc).__name__}: {exc})")
        self.stats.ticks += len(ticks)
        return ticks

    def _invalid(self, reason: str) -> None:
        self.stats.invalid += 1
        self.stats.last_error = reason
        log.warning("websocket feed %s: %s", self.url, reason)

    async def ticks(self) -> AsyncIterator[list[Tick]]:
        """Trades as they arrive, one list per message; reconnects after any drop."""
        failures = 0
        while True:
            try:
                async with self.connect(self.url) as socket:
                    self.stats.connects += 1
                    failures = 0
                    async for message in socket:
                        ticks = self.parse(message)
                        if ticks:
                            yield ticks
                reason = "server closed the connection"
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            failures += 1
            self.stats.last_error = reason
            limit = self.backoff.max_attempts
            if limit is not None and failures > limit:
                raise ConnectionError(f"websocket feed {self.url}: giving up after {reason}")
            delay = self.backoff.delay(failures)
            log.warning("websocket feed %s: %s; reconnecting in %.1f s", self.url, reason, delay)
            await self.sleep(delay)
