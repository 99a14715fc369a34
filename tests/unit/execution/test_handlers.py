"""The adapter's route: OrderPlanned records decode to intents; records no broker could take
are dead-lettered with the reason, and a batch's intents reach the store once per order id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from services.execution.domain import client_order_id
from services.execution.handlers import ExecutionHandlers
from shared.clock import SystemClock
from shared.events import OrderPlanned, derive_id, make_envelope
from shared.runtime.batch import BatchContext
from shared.runtime.records import ConsumedRecord, TopicNames
from tests.unit.execution.fake_store import InMemoryExecutionStore

DECIDED = datetime(2024, 3, 1, 21, tzinfo=UTC)


def record(offset: int, order_id: str, quantity: float) -> ConsumedRecord:
    payload = OrderPlanned(order_id=order_id, portfolio="pf", symbol="XOM", side="buy",
                           quantity=quantity, decided_at=DECIDED, reference_price=100.0,
                           target_position=quantity, reason="entry")  # fmt: skip
    envelope = make_envelope(payload, event_id=derive_id("OrderPlanned", order_id),
                             occurred_at=DECIDED, key="XOM", producer="portfolio",
                             produced_at=DECIDED)  # fmt: skip
    return ConsumedRecord("portfolio.orders.v1", 0, offset, b"XOM", envelope.to_bytes())


def test_orders_decode_to_intents_and_bad_ones_are_dead_lettered() -> None:
    route = ExecutionHandlers(lambda _conn: InMemoryExecutionStore()).routes()[0]
    assert route.topic == "portfolio.orders.v1" and route.aligned is None
    assert route.decode is not None
    records = [record(0, "a", 3.0), record(1, "b", 1e-12),
               ConsumedRecord("portfolio.orders.v1", 0, 2, b"XOM", b"{not json")]  # fmt: skip
    decoded = route.decode(records)
    assert isinstance(decoded, tuple)
    items, dead = decoded
    assert [(i.order_id, i.client_order_id, i.qty) for i in items] == [
        ("a", client_order_id("a"), "3")
    ]
    assert [r.offset for r, _ in dead] == [1, 2]
    assert "rejected by the execution adapter: quantity 1e-12 rounds to zero" in dead[0][1]


async def test_a_batch_records_each_order_once() -> None:
    store = InMemoryExecutionStore()
    route = ExecutionHandlers(lambda _conn: store).routes()[0]
    assert route.decode is not None
    decoded = route.decode([record(0, "a", 3.0), record(1, "a", 3.0), record(2, "b", 5.0)])
    assert isinstance(decoded, tuple)
    # The in-memory store stands for the batch's connection (the handler only passes it on).
    ctx = BatchContext(cast(Any, None), TopicNames(""), SystemClock(), "titan-execution")
    await route.handle(decoded[0], ctx)
    await route.handle(decoded[0], ctx)  # redelivered: nothing new
    assert sorted(store.rows) == ["a", "b"]
    assert not ctx.emitted.records  # the adapter publishes nothing
    assert {r.record.state for r in store.rows.values()} == {"pending"}
