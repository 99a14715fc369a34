"""Records in and out of the broker, and the mapping from contract topic names to real ones."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from aiokafka.partitioner import murmur2

from shared.events import Envelope
from shared.topics import dlq_topic


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


class FetchedRecords(Sequence[ConsumedRecord]):
    """One topic's fetched broker messages, seen as ConsumedRecords built only when read.

    A decoder that needs only the values (`record_values`) never pays for a ConsumedRecord
    per message; indexing or iterating builds them one by one, as before.
    """

    __slots__ = ("_messages",)

    def __init__(self, messages: list[Any]) -> None:
        # aiokafka ConsumerRecords (or anything with their attributes), in partition order.
        self._messages = messages

    @staticmethod
    def _record(m: Any) -> ConsumedRecord:
        return ConsumedRecord(
            topic=m.topic,
            partition=m.partition,
            offset=m.offset,
            key=m.key,
            value=m.value,
            timestamp_ms=m.timestamp,
            headers=tuple(m.headers or ()),
        )

    def __len__(self) -> int:
        return len(self._messages)

    @overload
    def __getitem__(self, index: int) -> ConsumedRecord: ...
    @overload
    def __getitem__(self, index: slice) -> list[ConsumedRecord]: ...
    def __getitem__(self, index: int | slice) -> ConsumedRecord | list[ConsumedRecord]:
        if isinstance(index, slice):
            return [self._record(m) for m in self._messages[index]]
        return self._record(self._messages[index])

    def __iter__(self) -> Iterator[ConsumedRecord]:
        return map(self._record, self._messages)

    def values(self) -> list[bytes | None]:
        return [m.value for m in self._messages]

    def keys(self) -> list[bytes | None]:
        return [m.key for m in self._messages]


def split_watermarks(
    records: Sequence[ConsumedRecord],
) -> tuple[Sequence[ConsumedRecord], list[ConsumedRecord]]:
    """The records that are events, and the watermark control records (header
    `titan.watermark`, see watermarks.py) taken out of them; cheap when there are none."""
    from shared.runtime.watermarks import is_watermark

    if isinstance(records, FetchedRecords):
        messages = records._messages
        # Most records carry no headers at all: one cheap pass finds the batches to split.
        if not any(m.headers and is_watermark(m.headers) for m in messages):
            return records, []
        rest, control = [], []
        for m in messages:
            if is_watermark(m.headers):
                control.append(FetchedRecords._record(m))
            else:
                rest.append(m)
        return FetchedRecords(rest), control
    events: list[ConsumedRecord] = []
    marks: list[ConsumedRecord] = []
    for r in records:
        (marks if is_watermark(r.headers) else events).append(r)
    return (records, []) if not marks else (events, marks)


def record_values(records: Sequence[ConsumedRecord]) -> list[bytes | None]:
    """The values of `records`, in order, without building records that are not built yet."""
    if isinstance(records, FetchedRecords):
        return records.values()
    return [r.value for r in records]


def record_keys(records: Sequence[ConsumedRecord]) -> list[bytes | None]:
    """The keys of `records`, in order, without building records that are not built yet."""
    if isinstance(records, FetchedRecords):
        return records.keys()
    return [r.key for r in records]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str  # the real topic name (already resolved)
    key: str | None
    value: bytes
    event_id: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    partition: int | None = None  # None: the key decides (watermarks name theirs)
    # Partition as Kafka's default partitioner would give this key rather than the record's
    # own key (params, keyed pair|regime, go to their pair's partition: co-partitioning).
    partition_key: str | None = None


@dataclass(frozen=True)
class TopicNames:
    """Real topic names: the contract name behind an optional prefix (tests isolate by prefix)."""

    prefix: str = ""

    def real(self, contract_name: str) -> str:
        return f"{self.prefix}{contract_name}"

    def contract(self, real_name: str) -> str:
        if self.prefix and real_name.startswith(self.prefix):
            return real_name[len(self.prefix) :]
        return real_name

    def dlq(self, real_name: str) -> str:
        return dlq_topic(real_name)


@dataclass
class Emitted:
    """What one batch produced: events and dead letters, in order."""

    records: list[OutgoingRecord] = field(default_factory=list)
    dead_letters: list[tuple[ConsumedRecord, str]] = field(default_factory=list)

    def event(
        self,
        topic: str,
        envelope: Envelope[Any],
        *,
        partition: int | None = None,
        partition_key: str | None = None,
    ) -> None:
        self.records.append(
            OutgoingRecord(
                topic=topic,
                key=envelope.key,
                value=envelope.to_bytes(),
                event_id=str(envelope.event_id),
                partition=partition,
                partition_key=partition_key,
            )
        )


def partition_for_key(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as aiokafka's) gives a key."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions
