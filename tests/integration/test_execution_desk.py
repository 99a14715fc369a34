"""The order desk's paths, one by one, against the fake Alpaca broker (a real HTTP server in
its own process) with the store in memory: a lost answer is recovered by client order id,
a duplicate is recognised, a 429 holds the rest of the batch, a reject is final, and
reconciliation follows a partial fill to the fill."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry

from services.execution.broker import AlpacaBroker, BrokerCredentials
from services.execution.desk import DeskSettings, ExecutionMetrics, OrderDesk
from services.execution.domain import OrderIntent, Placed, client_order_id
from tests.fakes.alpaca_process import KEY_ID, SECRET_KEY, FakeAlpacaProcess
from tests.unit.execution.fake_store import InMemoryExecutionStore

pytestmark = pytest.mark.integration

SCRIPT = {
    "default": ["fill"],
    "symbols": {
        "PART": ["partial"],
        "REJ": ["reject"],
        "THR": ["throttle", "fill"],
        "SLOW": ["slow", "fill"],
    },
    "prices": {"PART": 10.0},
    "retry_after_s": 1.5,
    "slow_s": 1.0,
}
T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)
SETTINGS = DeskSettings(batch_size=10, lease_s=2.0, backoff_initial_s=0.5, backoff_max_s=8.0)


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeAlpacaProcess, str]]:
    server = FakeAlpacaProcess(tmp_path_factory.mktemp("alpaca-desk"), SCRIPT)
    url = server.start()
    yield server, url
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def broker(fake: tuple[FakeAlpacaProcess, str]) -> AsyncIterator[AlpacaBroker]:
    client = AlpacaBroker(fake[1], BrokerCredentials(KEY_ID, SECRET_KEY), 0.3)
    yield client
    await client.close()


def desk_for(
    broker: AlpacaBroker, settings: DeskSettings = SETTINGS
) -> tuple[OrderDesk, InMemoryExecutionStore, CollectorRegistry]:
    store, registry = InMemoryExecutionStore(), CollectorRegistry()
    desk = OrderDesk(broker, store.open, ExecutionMetrics(registry), settings, now=lambda: NOW)
    return desk, store, registry


def intent(order_id: str, symbol: str, minutes: int = 0) -> OrderIntent:
    return OrderIntent(order_id, client_order_id(order_id), "pf", symbol, "buy", "4",
                       T0 + timedelta(minutes=minutes), 10.0)  # fmt: skip


def posts(fake: FakeAlpacaProcess, order_id: str) -> int:
    cid = client_order_id(order_id)
    return sum(1 for r in fake.requests() if r["method"] == "POST"
               and r["body"]["client_order_id"] == cid)  # fmt: skip


def counted(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_a_lost_answer_is_recovered_without_a_second_submission(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    desk, store, registry = desk_for(broker)
    await store.record_intents([intent("d-slow", "SLOW")])
    assert await desk.place_due() == 1
    row = store.rows["d-slow"]
    assert row.record.state == "pending" and "Timeout" in (row.last_error or "")
    assert await desk.place_due() == 0  # backing off
    store.now += 10
    assert await desk.place_due() == 1
    assert row.record.state in ("open", "filled") and row.record.broker_order_id is not None
    assert posts(fake[0], "d-slow") == 1
    assert counted(registry, "titan_execution_placements_total", how="recovered") == 1
    assert counted(registry, "titan_execution_retries_total", reason="transient") == 1


async def test_an_order_the_broker_already_has_is_recorded_not_doubled(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    desk, store, registry = desk_for(broker)
    # Another replica placed it and died before recording it (its lease has run out).
    first = await broker.submit(intent("d-dup", "AAA"))
    assert isinstance(first, Placed)
    await store.record_intents([intent("d-dup", "AAA")])
    await desk.place_due()
    assert store.rows["d-dup"].record.broker_order_id == first.order.id
    assert counted(registry, "titan_execution_placements_total", how="already_placed") == 1
    cid = client_order_id("d-dup")
    statuses = [r["status"] for r in fake[0].requests()
                if r["method"] == "POST" and r["body"]["client_order_id"] == cid]  # fmt: skip
    assert statuses == [200, 422]


async def test_a_429_holds_the_rest_of_the_batch_for_retry_after(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    desk, store, registry = desk_for(broker)
    await store.record_intents([intent("d-thr", "THR", 0), intent("d-a", "BBB", 1),
                                intent("d-b", "CCC", 2)])  # fmt: skip
    assert await desk.place_due() == 3
    assert [posts(fake[0], o) for o in ("d-thr", "d-a", "d-b")] == [1, 0, 0]
    assert {r.next_attempt_at for r in store.rows.values()} == {1.5}
    assert counted(registry, "titan_execution_retries_total", reason="throttled") == 3
    store.now = 1.5
    assert await desk.place_due() == 3
    assert {r.record.state for r in store.rows.values()} <= {"open", "filled"}
    assert [posts(fake[0], o) for o in ("d-thr", "d-a", "d-b")] == [2, 1, 1]


async def test_a_reject_is_recorded_with_its_reason_and_never_retried(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    desk, store, registry = desk_for(broker)
    await store.record_intents([intent("d-rej", "REJ")])
    await desk.place_due()
    store.now += 1000
    assert await desk.place_due() == 0
    record = store.rows["d-rej"].record
    assert record.state == "rejected"
    assert record.reason == "HTTP 403 code 40310000: insufficient buying power"
    assert posts(fake[0], "d-rej") == 1
    assert counted(registry, "titan_execution_rejects_total") == 1


async def test_reconciliation_follows_a_partial_fill_to_the_fill(broker: AlpacaBroker) -> None:
    desk, store, registry = desk_for(broker)
    await store.record_intents([intent("d-part", "PART")])
    await desk.place_due()
    seen = []
    for _ in range(3):
        await desk.reconcile_open()
        r = store.rows["d-part"].record
        seen.append((r.state, r.broker_status, r.filled_qty))
    assert seen == [("open", "partially_filled", 2.0), ("filled", "filled", 4.0),
                    ("filled", "filled", 4.0)]  # fmt: skip
    assert store.rows["d-part"].record.filled_avg_price == pytest.approx(10.005)
    reconciled = Counter({s: counted(registry, "titan_execution_reconciled_total", state=s)
                          for s in ("open", "filled")})  # fmt: skip
    assert reconciled == Counter({"open": 1.0, "filled": 1.0})


async def test_a_stale_order_is_not_sent_unless_an_earlier_attempt_placed_it(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    desk, store, registry = desk_for(broker, replace(SETTINGS, max_order_age_s=600.0))
    await store.record_intents([intent("d-old", "AAA", -30), intent("d-old-placed", "AAA", -30)])
    # An attempt placed this one and died before recording it; it is found, not dropped.
    assert isinstance(await broker.submit(intent("d-old-placed", "AAA", -30)), Placed)
    store.rows["d-old-placed"].attempts = 1
    await desk.place_due()
    old = store.rows["d-old"].record
    assert old.state == "rejected" and (old.reason or "").startswith("stale: decided at")
    assert posts(fake[0], "d-old") == 0
    assert store.rows["d-old-placed"].record.state in ("open", "filled")
    assert posts(fake[0], "d-old-placed") == 1
    assert counted(registry, "titan_execution_placements_total", how="recovered") == 1
