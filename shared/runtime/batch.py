"""One batch, one transaction (contract delivery rule 1).

Order of steps inside the transaction, and why:
  1. begin, and take a batch number from the outbox sequence (publication order across
     batches); the consumer loop does this ahead, while it waits for the batch (see
     consumer.py), which takes two round trips off every batch's latency;
  2. decode every record; undecodable ones become dead letters (rule 5), never exceptions
     (decoding is a pure function of the records, so the consumer may do it before the
     transaction, while the previous batch's transaction is still in flight: `prepare`; a
     decoder may even hand the work to another process and return a `PendingDecode`, which
     `PreparedBatch.settle` waits for before the batch's transaction starts);
  3. run the handlers, route by route: effects as upserts keyed by deterministic ids; then
     event time (event_time.py): watermark records advance the input watermarks, and the
     events of aligned routes wait until every input has passed their time and are released
     in one total order to their handlers;
  4. write the produced events and the dead letters to the outbox;
  5. store the next offset of every partition read, fenced on the value we started from;
  6. commit. Only then are the outbox rows published (rule 3), by the caller.
A crash anywhere before 6 leaves no trace; a crash after 6 leaves unsent outbox rows that
the relay publishes at start-up.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import asyncpg

from shared.clock import Clock
from shared.runtime.event_ids import Identified, identify, judge
from shared.runtime.event_time import AlignedInput, EventTime, WatermarkOutputs
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.quarantine import Isolation, as_record, guarded
from shared.runtime.records import (
    ConsumedRecord,
    OutgoingRecord,
    TopicNames,
    split_watermarks,
)

# Route, BatchContext and decoders live in routes.py; re-exported for the services' imports.
from shared.runtime.routes import (
    BatchContext as BatchContext,
)
from shared.runtime.routes import (
    DeadLetters as DeadLetters,
)
from shared.runtime.routes import (
    Decoder as Decoder,
)
from shared.runtime.routes import (
    DecodeResult as DecodeResult,
)
from shared.runtime.routes import (
    Handler as Handler,
)
from shared.runtime.routes import (
    PendingDecode as PendingDecode,
)
from shared.runtime.routes import (
    Route as Route,
)
from shared.runtime.routes import (
    WatermarkHandler as WatermarkHandler,
)
from shared.runtime.routes import (
    envelope_decoder as envelope_decoder,
)
from shared.runtime.store import RuntimeStore
from shared.runtime.watermarks import Timed, is_watermark, mark_key, parse_watermark_source
from shared.topics import watermark_sources


@dataclass(frozen=True)
class PreparedBatch:
    """A batch grouped by real topic (partition order kept) and decoded, ready to process
    once `settle` has collected the decodes still running elsewhere."""

    records: dict[str, Sequence[ConsumedRecord]]
    next_offsets: dict[tuple[str, int], int]
    decoded: dict[str, DecodeResult]
    pending: dict[str, PendingDecode] = field(default_factory=dict)
    # Watermark records of the batch ((real topic, partition) -> maximum) and the decoded
    # events of aligned routes.
    watermarks: dict[tuple[str, int], int] = field(default_factory=dict)
    timed: list[Timed] = field(default_factory=list)
    # Set by a handler of a route with `overlaps_next_batch`; None when the batch has none.
    overlap: asyncio.Event | None = None
    # Set when a handler raised on this batch: it runs one record at a time (quarantine.py).
    isolation: Isolation | None = None

    async def settle(self, *, ahead: bool = False) -> None:
        """Wait for the pending decodes; their results stay for every retry of the batch.
        `ahead`: collect them before the batch is wanted (the consumer loop does so while the
        batch before it waits for the database), and call `needed()` once it is."""
        if not ahead:
            self.needed()
        while self.pending:
            topic, decode = next(iter(self.pending.items()))
            self.decoded[topic] = await decode.result()
            del self.pending[topic]

    def needed(self) -> None:
        """Tell the decodes still running elsewhere that the batch is wanted now."""
        for running in self.pending.values():
            running.needed()


@dataclass(frozen=True)
class BatchOutcome:
    batch_no: int
    outgoing: list[OutgoingRecord]
    next_offsets: dict[tuple[str, int], int]
    records_in: dict[str, int]
    dead_letters: dict[str, int]


class BatchProcessor:
    def __init__(
        self,
        routes: Sequence[Route[Any]],
        store: RuntimeStore,
        topics: TopicNames,
        clock: Clock,
        producer_name: str,
        *,
        outputs: WatermarkOutputs | Sequence[WatermarkOutputs] | None = None,
        metrics: RuntimeMetrics | None = None,
        max_wait_s: float | None = None,
    ) -> None:
        self.routes = list(routes)
        self.store = store
        self.topics = topics
        self.clock = clock
        self.producer_name = producer_name
        self._by_real_topic = {topics.real(r.topic): r for r in self.routes}
        self._decoders = {
            topics.real(r.topic): (r.decode or envelope_decoder(r.topic)) for r in self.routes
        }
        aligned = {
            topics.real(r.topic): AlignedInput(
                rank, r.aligned, self._decoders[topics.real(r.topic)]
            )
            for rank, r in enumerate(self.routes)
            if r.aligned is not None
        }
        gating = {topics.real(r.topic) for r in self.routes if r.gates_watermark}
        sources = {topics.real(r.topic): watermark_sources(r.topic) for r in self.routes}
        self.event_time = EventTime(
            aligned,
            topics,
            store.group_id,
            producer_name,
            outputs,
            metrics,
            gating=gating,
            max_wait_s=max_wait_s,
            sources=sources,
        )

    async def load_state(self, conn: asyncpg.Connection) -> None:
        """Watermarks and pending events from the tables (start-up, before a retry)."""
        await self.event_time.load(conn)

    @property
    def real_topics(self) -> list[str]:
        return list(self._by_real_topic)

    @staticmethod
    def group(
        records: Sequence[ConsumedRecord],
    ) -> tuple[dict[str, list[ConsumedRecord]], dict[tuple[str, int], int]]:
        by_topic: dict[str, list[ConsumedRecord]] = {}
        next_offsets: dict[tuple[str, int], int] = {}
        for record in records:
            by_topic.setdefault(record.topic, []).append(record)
            tp = (record.topic, record.partition)
            next_offsets[tp] = max(next_offsets.get(tp, 0), record.offset + 1)
        return by_topic, next_offsets

    def prepare(
        self,
        by_topic: Mapping[str, Sequence[ConsumedRecord]],
        next_offsets: dict[tuple[str, int], int],
    ) -> PreparedBatch:
        """Decode the records of every routed topic (no I/O, no state: safe to do early)."""
        decoded: dict[str, DecodeResult] = {}
        pending: dict[str, PendingDecode] = {}
        marks: dict[tuple[str, int], int] = {}
        timed: list[Timed] = []
        overlapping = False
        for real_topic, all_records in by_topic.items():
            topic_records, control = split_watermarks(all_records)
            bad: list[tuple[ConsumedRecord, str]] = []
            for record in control:
                try:
                    us, source = parse_watermark_source(record.value)
                except ValueError as exc:
                    bad.append((record, str(exc)))
                    continue
                tp = (mark_key(record.topic, source), record.partition)
                marks[tp] = max(us, marks.get(tp, us))
            if real_topic in self.event_time.aligned:
                items, dead = self.event_time.decode_aligned(real_topic, topic_records)
                timed.extend(items)
                decoded[real_topic] = ([], bad + dead)
            elif topic_records and real_topic in self._decoders:
                result = self._decoders[real_topic](topic_records)
                if isinstance(result, PendingDecode):
                    pending[real_topic] = result
                else:
                    decoded[real_topic] = result
                overlapping |= self._by_real_topic[real_topic].overlaps_next_batch
            if bad and real_topic not in self.event_time.aligned:
                decoded.setdefault(real_topic, ([], []))[1].extend(bad)
        overlap = asyncio.Event() if overlapping else None
        return PreparedBatch(dict(by_topic), next_offsets, decoded, pending, marks, timed, overlap)

    async def process(
        self,
        conn: asyncpg.Connection,
        records: Sequence[ConsumedRecord],
        expected_offsets: dict[tuple[str, int], int | None],
    ) -> BatchOutcome:
        by_topic, next_offsets = self.group(records)
        return await self.process_prepared(
            conn, self.prepare(by_topic, next_offsets), expected_offsets
        )

    async def process_prepared(
        self,
        conn: asyncpg.Connection,
        batch: PreparedBatch,
        expected_offsets: dict[tuple[str, int], int | None],
    ) -> BatchOutcome:
        async with conn.transaction():
            batch_no = await self.store.next_batch_no(conn)
            return await self.run_in_transaction(conn, batch, expected_offsets, batch_no)

    async def run_in_transaction(
        self,
        conn: asyncpg.Connection,
        batch: PreparedBatch,
        expected_offsets: dict[tuple[str, int], int | None],
        batch_no: int,
    ) -> BatchOutcome:
        """Steps 2-5 on `conn`, whose transaction the caller began (with `batch_no`) and ends."""
        await batch.settle()  # the consumer loop settles before the transaction; others here
        batch, reused = await self._check_event_ids(conn, batch)
        ctx = BatchContext(
            conn,
            self.topics,
            self.clock,
            self.producer_name,
            overlap=batch.overlap,
            output_partitions=self.event_time.output_partitions,
        )
        ctx.emitted.dead_letters.extend(reused)
        for real_topic, route in self._by_real_topic.items():
            result = batch.decoded.get(real_topic)
            if result is None:
                continue
            items, dead = result
            ctx.emitted.dead_letters.extend(dead)
            if batch.isolation is not None and real_topic not in self.event_time.aligned:
                await self._handle_isolated(route, batch, real_topic, dead, ctx, batch.isolation)
            elif items:
                await guarded(real_topic, route.handle, items, ctx, ())
        await self._event_time_step(conn, batch, ctx)
        outgoing = list(ctx.emitted.records)
        outgoing.extend(self._dead_letter_record(r, why) for r, why in ctx.emitted.dead_letters)
        await self.store.write_outbox(conn, batch_no, outgoing)
        await self.store.record_dead_letters(conn, ctx.emitted.dead_letters)
        await self.store.store_offsets(conn, batch.next_offsets, expected_offsets)

        dead_counts: dict[str, int] = {}
        for r, _ in ctx.emitted.dead_letters:
            dead_counts[r.topic] = dead_counts.get(r.topic, 0) + 1
        return BatchOutcome(
            batch_no,
            outgoing,
            batch.next_offsets,
            {t: len(rs) for t, rs in batch.records.items()},
            dead_counts,
        )

    async def _check_event_ids(
        self, conn: asyncpg.Connection, batch: PreparedBatch
    ) -> tuple[PreparedBatch, DeadLetters]:
        """The batch without the records whose event id was consumed before (event_ids.py),
        and the dead letters of those that reused one with other content. Such records are
        rare, so the batch is decoded again only when there are some."""
        identified: list[Identified] = []
        for real_topic, records in batch.records.items():
            route = self._by_real_topic.get(real_topic)
            if route is None or not route.checks_event_ids:
                continue
            for record in records:
                if not is_watermark(record.headers) and (item := identify(record)) is not None:
                    identified.append(item)
        if not identified:
            return batch, []
        stored = await self.store.seen_events(conn, [i.event_id for i in identified])
        verdicts = judge(identified, stored)
        await self.store.remember_events(conn, verdicts.fresh)
        if not verdicts.duplicates and not verdicts.conflicts:
            return batch, []
        # By position: records may be built afresh on each read (FetchedRecords).
        dropped = {(r.topic, r.partition, r.offset) for r in verdicts.duplicates}
        dropped |= {(r.topic, r.partition, r.offset) for r, _ in verdicts.conflicts}
        kept = {
            t: [r for r in rs if (r.topic, r.partition, r.offset) not in dropped]
            for t, rs in batch.records.items()
        }
        again = replace(self.prepare(kept, batch.next_offsets), isolation=batch.isolation)
        await again.settle()
        return again, verdicts.conflicts

    async def _event_time_step(
        self, conn: asyncpg.Connection, batch: PreparedBatch, ctx: BatchContext
    ) -> None:
        route_of = self._by_real_topic

        async def dispatch(real_topic: str, items: list[Timed]) -> None:
            handle = route_of[real_topic].handle
            isolation = batch.isolation
            if isolation is None:
                await guarded(real_topic, handle, [t.item for t in items], ctx, ())
                return
            # One call per event time: a time's events are complete only together (pairs
            # closes a bar time with the bars it was handed).
            for _, group in itertools.groupby(items, key=lambda t: t.time_us):
                taken, suspects = [], []
                for t in group:
                    reason = isolation.excluded(t.position)
                    if reason is not None:
                        ctx.emitted.dead_letters.append((as_record(t.position, t.raw), reason))
                    else:
                        taken.append(t.item)
                    if t.position not in isolation.poisoned:
                        suspects.append(t.position)
                if taken:
                    await guarded(real_topic, handle, taken, ctx, suspects)

        async def on_watermark(advanced: dict[tuple[str, int], int]) -> None:
            for real_topic, route in self._by_real_topic.items():
                mine = {p: us for (t, p), us in advanced.items() if t == real_topic}
                if mine and route.on_watermark is not None:
                    await route.on_watermark(mine, ctx)

        await self.event_time.step(
            conn, batch.watermarks, batch.timed, dispatch, on_watermark, ctx.emitted.records
        )

    async def _handle_isolated(
        self,
        route: Route[Any],
        batch: PreparedBatch,
        real_topic: str,
        dead: DeadLetters,
        ctx: BatchContext,
        isolation: Isolation,
    ) -> None:
        """The topic's records one at a time, each decoded alone; the poisoned ones become
        dead letters. Records the batch's decode dead-lettered already are skipped."""
        rejected = {(r.partition, r.offset) for r, _ in dead}
        records, _ = split_watermarks(batch.records[real_topic])
        for record in records:
            position = (record.topic, record.partition, record.offset)
            reason = isolation.excluded(position)
            if reason is not None:
                ctx.emitted.dead_letters.append((record, reason))
                continue
            if (record.partition, record.offset) in rejected:
                continue
            decoded = self._decoders[real_topic]([record])
            items, _ = await decoded.result() if isinstance(decoded, PendingDecode) else decoded
            if items:
                await guarded(real_topic, route.handle, items, ctx, (position,))

    def _dead_letter_record(self, record: ConsumedRecord, reason: str) -> OutgoingRecord:
        headers = (
            ("titan.source.topic", record.topic.encode()),
            ("titan.source.partition", str(record.partition).encode()),
            ("titan.source.offset", str(record.offset).encode()),
            ("titan.error", reason.encode("utf-8", "replace")[:4000]),
            ("titan.consumer", self.producer_name.encode()),
        )
        return OutgoingRecord(
            topic=self.topics.dlq(record.topic),
            key=record.key.decode("utf-8", "replace") if record.key is not None else None,
            value=record.value if record.value is not None else b"",
            event_id=None,
            headers=headers + tuple(record.headers),
        )
