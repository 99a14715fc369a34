"""The adapter's Alpaca client against the fake broker (a real HTTP server in its own
process): each scripted answer classifies as the placement loop expects."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from services.execution.broker import AlpacaBroker, BrokerCredentials, BrokerError
from services.execution.domain import (
    AlreadyPlaced,
    OrderIntent,
    Placed,
    Rejected,
    Throttled,
    Transient,
    client_order_id,
)
from tests.fakes.alpaca_process import KEY_ID, SECRET_KEY, FakeAlpacaProcess

pytestmark = pytest.mark.integration

SCRIPT = {
    "default": ["fill"],
    "symbols": {
        "PART": ["partial"],
        "REJ": ["reject"],
        "THR": ["throttle", "fill"],
        "SLOW": ["slow", "fill"],
        "ERR": ["error", "fill"],
    },
    "prices": {"PART": 50.0},
    "retry_after_s": 2,
    "slow_s": 1.5,
}
TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeAlpacaProcess, str]]:
    server = FakeAlpacaProcess(tmp_path_factory.mktemp("alpaca"), SCRIPT)
    url = server.start()
    yield server, url
    server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def broker(fake: tuple[FakeAlpacaProcess, str]) -> AsyncIterator[AlpacaBroker]:
    client = AlpacaBroker(fake[1], BrokerCredentials(KEY_ID, SECRET_KEY), TIMEOUT_S)
    yield client
    await client.close()


def intent(order_id: str, symbol: str, qty: str = "10") -> OrderIntent:
    return OrderIntent(order_id, client_order_id(order_id), "p", symbol, "buy", qty,
                       datetime(2024, 1, 2, tzinfo=UTC), 10.0)  # fmt: skip


async def test_an_order_is_placed_once_and_fills(broker: AlpacaBroker) -> None:
    first = await broker.submit(intent("o-fill", "AAA"))
    assert isinstance(first, Placed) and first.order.status == "accepted"
    assert first.order.client_order_id == client_order_id("o-fill")
    assert isinstance(await broker.submit(intent("o-fill", "AAA")), AlreadyPlaced)
    read = await broker.order(first.order.id)
    assert read is not None and read.status == "filled" and read.filled_qty == 10.0
    by_cid = await broker.by_client_order_id(client_order_id("o-fill"))
    assert by_cid is not None and by_cid.id == first.order.id
    assert await broker.by_client_order_id("titan-unknown") is None
    listed = await broker.orders("closed")
    assert [o.id for o in listed if o.client_order_id == client_order_id("o-fill")] == [
        first.order.id
    ]


async def test_a_partial_fill_then_the_rest_at_a_weighted_price(broker: AlpacaBroker) -> None:
    placed = await broker.submit(intent("o-part", "PART"))
    assert isinstance(placed, Placed)
    partial = await broker.order(placed.order.id)
    assert partial is not None and partial.status == "partially_filled"
    assert partial.filled_qty == 5.0 and partial.filled_avg_price == 50.0
    full = await broker.order(placed.order.id)
    assert full is not None and full.status == "filled" and full.filled_qty == 10.0
    assert full.filled_avg_price == pytest.approx((5 * 50.0 + 5 * 50.05) / 10)


async def test_reject_throttle_error_and_timeout(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    rejected = await broker.submit(intent("o-rej", "REJ"))
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "HTTP 403 code 40310000: insufficient buying power"
    throttled = await broker.submit(intent("o-thr", "THR"))
    assert throttled == Throttled(2.0)
    assert isinstance(await broker.submit(intent("o-thr", "THR")), Placed)
    error = await broker.submit(intent("o-err", "ERR"))
    assert isinstance(error, Transient) and "HTTP 503" in error.reason
    # The nasty case: no answer within the timeout, but the order exists at the broker.
    slow = await broker.submit(intent("o-slow", "SLOW"))
    assert isinstance(slow, Transient) and "Timeout" in slow.reason
    found = await broker.by_client_order_id(client_order_id("o-slow"))
    assert found is not None and found.symbol == "SLOW"
    created = [r["client_order_id"] for r in fake[0].requests() if r.get("created")]
    assert created.count(client_order_id("o-slow")) == 1
    assert client_order_id("o-rej") not in created


async def test_bad_credentials_wait_and_queries_raise(fake: tuple[FakeAlpacaProcess, str]) -> None:
    wrong = AlpacaBroker(fake[1], BrokerCredentials(KEY_ID, "wrong"), TIMEOUT_S)
    try:
        outcome = await wrong.submit(intent("o-auth", "AAA"))
        assert isinstance(outcome, Transient) and "HTTP 401" in outcome.reason
        with pytest.raises(BrokerError, match="401"):
            await wrong.by_client_order_id(client_order_id("o-auth"))
    finally:
        await wrong.close()


async def test_an_invalid_order_is_a_reject_not_a_duplicate(broker: AlpacaBroker) -> None:
    outcome = await broker.submit(intent("o-bad", "AAA", qty="-1"))
    assert outcome == Rejected("HTTP 422 code 40010001: qty must be > 0")


async def test_record_file_is_one_json_line_per_request(
    broker: AlpacaBroker, fake: tuple[FakeAlpacaProcess, str]
) -> None:
    assert isinstance(await broker.submit(intent("o-rec", "AAA")), Placed)
    records = fake[0].requests()
    assert records[-1]["body"]["client_order_id"] == client_order_id("o-rec")
    assert all({"method", "path", "status", "created"} <= r.keys() for r in records)
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
