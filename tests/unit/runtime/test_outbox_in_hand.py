"""The relay and the in-order publisher never both send one batch.

A CI run of two market_data replicas under chaos found 6,000 bars, every one a copy after a
newer bar of its symbol: aiokafka hands out buffered records as soon as a new assignment is
set, before the assignment callback runs, so a batch committed there was still queued for
the in-order publisher when the takeover's relay read the unsent rows and sent it as well;
the two sends interleaved in the partition."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outbox import OutboxPublisher
from shared.runtime.records import OutgoingRecord
from shared.runtime.store import RuntimeStore, UnsentRow


class RecordingBroker(AIOKafkaProducer):  # type: ignore[misc]
    """Acknowledges every record and keeps them in the order sent."""

    def __init__(self) -> None:  # no connection: nothing leaves the process
        self.log: list[str] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        self.log.append(value.decode())
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


class InMemoryOutbox(RuntimeStore):
    """The outbox part of the store, in memory (conn is unused)."""

    def __init__(self) -> None:
        super().__init__("titan-test", "me")
        self.rows: dict[tuple[int, int], tuple[OutgoingRecord, bool]] = {}

    def commit(self, batch_no: int, records: Sequence[OutgoingRecord]) -> None:
        for seq, r in enumerate(records):
            self.rows[(batch_no, seq)] = (r, False)

    async def unsent(self, conn: Any, limit: int, in_hand: Sequence[int] = ()) -> list[UnsentRow]:
        due = sorted(k for k, (_, sent) in self.rows.items() if not sent and k[0] not in in_hand)
        return [UnsentRow(b, s, self.rows[(b, s)][0]) for b, s in due[:limit]]

    async def mark_sent(self, conn: Any, batch_nos: Sequence[int]) -> None:
        for (b, s), (r, _) in list(self.rows.items()):
            if b in batch_nos:
                self.rows[(b, s)] = (r, True)

    async def mark_rows_sent(self, conn: Any, rows: Sequence[UnsentRow]) -> None:
        for row in rows:
            self.rows[(row.batch_no, row.seq)] = (row.record, True)

    async def backlog(self, conn: Any) -> int:
        return sum(not sent for _, sent in self.rows.values())

    async def purge_sent(self, conn: Any, older_than_s: float) -> int:
        return 0

    async def purge_seen(self, conn: Any, older_than_s: float) -> int:
        return 0


class NoPool:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


def bars(batch: int, n: int) -> list[OutgoingRecord]:
    return [OutgoingRecord("bars", "KO", f"b{batch}.{i}".encode()) for i in range(n)]


def test_a_batch_held_for_the_publisher_is_not_relayed_and_is_sent_once() -> None:
    async def scenario() -> list[str]:
        broker, outbox = RecordingBroker(), InMemoryOutbox()
        publisher = OutboxPublisher(broker, NoPool(), outbox, RuntimeMetrics("in-hand"))  # type: ignore[arg-type]
        first = bars(1, 3)
        outbox.commit(1, first)
        publisher.hold(1)  # committed; queued for the in-order publisher
        assert await publisher.relay() == 0  # the takeover's relay leaves it alone
        await publisher.publish_batch(1, first)
        outbox.commit(2, bars(2, 2))  # left unsent by a departed replica, say
        assert await publisher.relay() == 2
        return broker.log

    assert asyncio.run(scenario()) == ["b1.0", "b1.1", "b1.2", "b2.0", "b2.1"]


def test_without_the_hold_the_relay_would_send_the_batch_too() -> None:
    """The failure itself, so the test above is known to guard something."""

    async def scenario() -> list[str]:
        broker, outbox = RecordingBroker(), InMemoryOutbox()
        publisher = OutboxPublisher(broker, NoPool(), outbox, RuntimeMetrics("no-hold"))  # type: ignore[arg-type]
        first = bars(1, 2)
        outbox.commit(1, first)
        await publisher.relay()
        await publisher.publish_batch(1, first)
        return broker.log

    assert asyncio.run(scenario()) == ["b1.0", "b1.1", "b1.0", "b1.1"]
