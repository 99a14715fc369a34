"""Small builders of tick records shared by the market_data tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.market_data.domain import AcceptedTick, epoch_us
from shared.events import Tick, derive_id, make_envelope

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def tick_bytes(**overrides: object) -> bytes:
    fields: dict[str, object] = {
        "symbol": "AAPL",
        "ts": T0,
        "price": 187.25,
        "size": 100.0,
        "trade_id": "t1",
        "source": "test",
    }
    fields.update(overrides)
    tick = Tick(**fields)
    return make_envelope(
        tick,
        event_id=tick.tick_id(),
        occurred_at=tick.ts,
        key=tick.symbol,
        producer="test",
        produced_at=T0,
    ).to_bytes()


def accepted(
    symbol: str, seconds: float, price: float, size: float = 1.0, n: int = 0
) -> AcceptedTick:
    ts = T0 + timedelta(seconds=seconds)
    return AcceptedTick(
        derive_id("test-tick", symbol, seconds, n), symbol, epoch_us(ts), price, size, None, "t"
    )
