"""One unit of work: every change of state outside a consumer batch (background jobs, HTTP
handlers) goes through it, so the delivery protocol is written here once.

    async with ctx.unit_of_work() as uow:
        await write_something(uow.conn)           # in the transaction
        uow.emit(SOME_TOPIC.name, envelope)       # kept in memory until step 3

Order of steps, and why (a consumer batch follows the same order, batch.py, plus offsets):
  1. acquire a connection and begin a transaction;
  2. the caller's writes on `uow.conn`, and the events it emits (`uow.emit`, `uow.emit_event`,
     `uow.emit_records`), collected in memory;
  3. if anything was emitted: take a batch number from the outbox sequence (publication order
     across batches and units of work) and write the rows to the outbox, in the same
     transaction;
  4. commit. An exception in 1-3 rolls everything back: no row, no event;
  5. only then publish the rows and mark them sent (contract rule 3). A crash between 4 and 5
     leaves unsent outbox rows, which the relay publishes at start-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from shared.clock import Clock
from shared.runtime.outbox import OutboxPublisher
from shared.runtime.records import Emitted, OutgoingRecord, TopicNames
from shared.runtime.routes import EmitsEvents
from shared.runtime.store import RuntimeStore

C = TypeVar("C")


class Outbox(Protocol):
    async def write(self, conn: Any, records: list[OutgoingRecord]) -> int:
        """Step 3: a batch number and the rows, in the caller's transaction."""

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        """Step 5, after commit: send the rows and mark them sent."""


class RuntimeOutbox:
    """The runtime's outbox table (store.py) and its publisher (outbox.py)."""

    def __init__(self, store: RuntimeStore, publisher: OutboxPublisher) -> None:
        self.store = store
        self.publisher = publisher

    async def write(self, conn: Any, records: list[OutgoingRecord]) -> int:
        batch_no = await self.store.next_batch_no(conn)
        await self.store.write_outbox(conn, batch_no, records)
        return batch_no

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        await self.publisher.publish_batch(batch_no, records)


@dataclass
class UnitOfWork(EmitsEvents, Generic[C]):
    """The transaction's connection, and what it will publish once committed."""

    conn: C
    topics: TopicNames
    producer_name: str
    clock: Clock
    emitted: Emitted = field(default_factory=Emitted)

    def emit_records(self, records: Iterable[OutgoingRecord]) -> None:
        """Records already addressed to real topics (e.g. watermark records)."""
        self.emitted.records.extend(records)


class UnitsOfWork(Generic[C]):
    """Opens units of work on `transaction` (a connection in a transaction) and `outbox`."""

    def __init__(
        self,
        transaction: Callable[[], AbstractAsyncContextManager[C]],
        outbox: Outbox,
        topics: TopicNames,
        producer_name: str,
        clock: Clock,
    ) -> None:
        self.transaction = transaction
        self.outbox = outbox
        self.topics = topics
        self.producer_name = producer_name
        self.clock = clock

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork[C]]:
        return self._open()

    @contextlib.asynccontextmanager
    async def _open(self) -> AsyncIterator[UnitOfWork[C]]:
        batch_no: int | None = None
        async with self.transaction() as conn:  # 1
            uow = UnitOfWork(conn, self.topics, self.producer_name, self.clock)
            yield uow  # 2
            records = uow.emitted.records
            if records:
                batch_no = await self.outbox.write(conn, records)  # 3
        # 4: committed by leaving the transaction
        if batch_no is not None:
            await self.outbox.publish(batch_no, records)  # 5
