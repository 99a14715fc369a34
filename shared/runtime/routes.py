"""What a service's routes are made of: typed handlers, decoders and the batch context.

A route binds a contract topic to a decoder (records -> typed values, or dead letters) and a
handler of those values; `BatchContext` is what a handler may touch: the batch's connection
(in its transaction) and its outbox (`emit`, `emit_event`, dead letters, watermarks). How a
batch runs is batch.py; how aligned routes wait for event time is event_time.py.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import asyncpg

from shared.clock import Clock
from shared.events import DecodeError, Envelope, decode, make_envelope
from shared.runtime.event_keys import key_problem
from shared.runtime.records import ConsumedRecord, Emitted, TopicNames
from shared.runtime.watermarks import EventOrder, watermark_record
from shared.topics import topic as topic_spec

T = TypeVar("T")
DeadLetters = list[tuple[ConsumedRecord, str]]
DecodeResult = tuple[list[Any], DeadLetters]


class PendingDecode(ABC):
    """A decode still running elsewhere (a worker process), so that the event loop's core
    does other work meanwhile. Its result must be what the in-process decoder would give."""

    @abstractmethod
    async def result(self) -> DecodeResult: ...

    def needed(self) -> None:
        """The batch is wanted now; the result may be collected before (see settle). A decoder
        that splits its work may learn from whether it was ready by then."""
        return None


# A route's decoder: the records' values as items of the handler's type T, and dead letters.
Decoder = Callable[[Sequence[ConsumedRecord]], tuple[list[T], DeadLetters] | PendingDecode]


class EmitsEvents:
    """`emit` and `emit_event` for whatever holds the outbox rows of one transaction: a
    consumer batch (BatchContext) or a unit of work (unit_of_work.py)."""

    topics: TopicNames
    producer_name: str
    clock: Clock
    emitted: Emitted

    def emit(
        self, contract_topic: str, envelope: Envelope[Any], *, partition_key: str | None = None
    ) -> None:
        """`partition_key`: the partition the default partitioner gives this key, not the
        envelope's key (a record co-partitioned with another topic's key)."""
        self.emitted.event(self.topics.real(contract_topic), envelope, partition_key=partition_key)

    def emit_event(
        self,
        contract_topic: str,
        payload: Any,
        *,
        event_id: UUID,
        occurred_at: datetime,
        key: str,
        produced_at: datetime | None = None,
    ) -> Envelope[Any]:
        """An event of this service: producer and produced_at (default: now) filled in."""
        envelope = make_envelope(
            payload,
            event_id=event_id,
            occurred_at=occurred_at,
            key=key,
            producer=self.producer_name,
            produced_at=self.clock.now() if produced_at is None else produced_at,
        )
        self.emit(contract_topic, envelope)
        return envelope


@dataclass
class BatchContext(EmitsEvents):
    """What a handler may touch: the batch's connection (in its transaction) and its outbox."""

    conn: asyncpg.Connection
    topics: TopicNames
    clock: Clock
    producer_name: str
    emitted: Emitted = field(default_factory=Emitted)
    state: dict[str, Any] = field(default_factory=dict)
    overlap: asyncio.Event | None = None
    output_partitions: Mapping[str, int] = field(default_factory=dict)  # real topic -> count

    def partitions(self, contract_topic: str) -> int:
        """Partitions of an output topic (0 when the service did not declare it)."""
        return self.output_partitions.get(self.topics.real(contract_topic), 0)

    def overlap_next_batch(self) -> None:
        """From here on this batch mostly waits for the database (its big write is on the
        wire): the consumer loop may fetch and decode the next batch meanwhile (only for a
        route with `overlaps_next_batch`; see consumer.py)."""
        if self.overlap is not None:
            self.overlap.set()

    def broadcast(self, contract_topic: str, envelope: Envelope[Any]) -> None:
        """One copy (same event id) to every partition of a declared output: what every
        replica of a co-partitioned consumer needs, like the market regime for each pair."""
        real = self.topics.real(contract_topic)
        count = self.output_partitions.get(real, 0)
        if count == 0:  # no partitions (offline): one copy, where its key leads
            self.emitted.event(real, envelope)
        for partition in range(count):
            self.emitted.event(real, envelope, partition=partition)

    def dead_letter(self, record: ConsumedRecord, reason: str) -> None:
        self.emitted.dead_letters.append((record, reason))

    def emit_watermark(self, contract_topic: str, partition: int, watermark_us: int) -> None:
        """Promise consumers of one partition that nothing at or before this time follows."""
        self.emitted.records.append(
            watermark_record(
                self.topics.real(contract_topic), partition, watermark_us, self.producer_name
            )
        )


Handler = Callable[[list[T], BatchContext], Awaitable[None]]
# Partitions (of the route's topic) whose input watermark advanced in this batch.
WatermarkHandler = Callable[[dict[int, int], BatchContext], Awaitable[None]]


@dataclass(frozen=True)
class Route(Generic[T]):
    """A contract topic, how its records are decoded (into items of type T), and the handler
    of the decoded items. Without `decode`, the items are the topic's envelopes."""

    topic: str
    handle: Handler[T]
    decode: Decoder[T] | None = None
    # The handler calls ctx.overlap_next_batch() once its big write is on the wire, and the
    # consumer loop waits for that (or the batch's end) before it fetches the next batch:
    # the server's work on this batch then overlaps the event loop's work on the next one.
    overlaps_next_batch: bool = False
    # Aligned by event time (contract rule 7): items wait until every aligned input of the
    # service has passed their time; `aligned` gives an item's (event time, tiebreak).
    aligned: EventOrder | None = None
    # Not aligned (handled on arrival), but its watermark counts in the input watermark:
    # the service's output at t depends on this input's events up to t.
    gates_watermark: bool = False
    # Told which partitions of this topic have a new watermark (market_data closes bars).
    on_watermark: WatermarkHandler | None = None
    # Event ids remembered and checked (event_ids.py): a reused id with other content is
    # dead-lettered, an identical one dropped. Off only where the service's own table keys
    # the events by their id and the volume makes a second table too dear (market ticks).
    checks_event_ids: bool = True


def envelope_decoder(
    contract_topic: str,
    convert: Callable[[Any], Any] | None = None,
    rejected_by: str = "the service",
) -> Callable[[Sequence[ConsumedRecord]], DecodeResult]:
    """Envelopes of the topic's event types; with `convert`, each payload is turned into a
    domain value, and a ValueError from it dead-letters the record like a decode error."""
    expected = topic_spec(contract_topic).events

    def _decode(records: Sequence[ConsumedRecord]) -> DecodeResult:
        items: list[Any] = []
        dead: list[tuple[ConsumedRecord, str]] = []
        for record in records:
            if record.value is None:
                dead.append((record, "empty record value (tombstone) is not an event"))
                continue
            try:
                envelope = decode(record.value, expected)
                item = envelope if convert is None else convert(envelope.payload)
                wrong_key = key_problem(contract_topic, record.key, envelope)
                if wrong_key is not None:
                    dead.append((record, wrong_key))
                    continue
                items.append(item)
            except DecodeError as exc:
                dead.append((record, str(exc)))
            except ValueError as exc:
                dead.append((record, f"rejected by {rejected_by}: {exc}"))
        return items, dead

    return _decode
