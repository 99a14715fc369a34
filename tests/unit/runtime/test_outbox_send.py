"""OutboxPublisher.send after a failure part-way through a batch (a broker killed mid-send):
the retry sends only what was not acknowledged, so no acknowledged record is copied after a
newer one of its key (found by the fault matrix, tests/integration/test_faults.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError

from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outbox import OutboxPublisher
from shared.runtime.records import OutgoingRecord
from shared.runtime.retry import retry_transient


class FlakyBroker(AIOKafkaProducer):  # type: ignore[misc]
    """Acknowledges every record except the `fail_at`-th send of this life (counting from 0)
    and every send after it in the same call; then comes back."""

    def __init__(self, fail_at: int | None) -> None:  # no connection: nothing is sent
        self.fail_at = fail_at
        self.sends = 0
        self.log: list[tuple[str, bytes]] = []  # (key, value) in the order acknowledged
        self.failing = False

    async def send(self, topic: str, value: bytes, key: bytes, **_: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail_at is not None and self.sends == self.fail_at:
            self.failing, self.fail_at = True, None
        self.sends += 1
        if self.failing:
            future.set_exception(KafkaTimeoutError("broker gone"))
        else:
            self.log.append((key.decode(), value))
            future.set_result(None)
        return future


def bars(*keys_and_values: tuple[str, str]) -> list[OutgoingRecord]:
    return [OutgoingRecord("bars", k, v.encode()) for k, v in keys_and_values]


async def publish(broker: FlakyBroker, records: list[OutgoingRecord]) -> None:
    publisher = OutboxPublisher(broker, None, None, RuntimeMetrics("outbox-test"))  # type: ignore[arg-type]
    delivered: set[int] = set()

    async def attempt() -> None:
        try:
            await publisher.send(records, delivered)
        finally:
            broker.failing = False  # the broker is back for the next attempt

    await retry_transient("publish", attempt)


@pytest.mark.parametrize("fail_at", [None, 0, 1, 2, 3])
def test_a_retry_after_a_partial_failure_keeps_each_key_in_order(fail_at: int | None) -> None:
    records = bars(("KO", "KO@1"), ("PEP", "PEP@1"), ("KO", "KO@2"), ("PEP", "PEP@2"))
    broker = FlakyBroker(fail_at)
    asyncio.run(publish(broker, records))
    for key in ("KO", "PEP"):
        values = [v.decode() for k, v in broker.log if k == key]
        assert values == [f"{key}@1", f"{key}@2"], values  # once each, in order
    assert broker.sends == 4 + (4 - fail_at if fail_at is not None else 0)
