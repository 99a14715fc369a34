"""The I/O half of event time in a consumer: watermarks in and out, pending events stored.

Inside a batch's transaction, after the handlers of unaligned routes (see batch.py):
  1. the batch's watermark records advance the input watermarks (each partition keeps its
     maximum), and routes with `on_watermark` hear of the partitions that advanced;
  2. the batch's events of aligned routes join the pending ones; everything at or before
     the new input watermark is released in the one total order and handed to the route
     handlers, consecutive events of one route together;
  3. pending_events gets the events still waiting that were not stored yet and loses the
     released ones; input_watermarks gets the partitions that advanced;
  4. the output watermark (input watermark minus the service's delay) goes to every
     partition of every output topic, after the batch's events in the outbox.
All of it commits with the batch's offsets, so a restart resumes with exactly the events
and watermarks the stored offsets imply.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.records import ConsumedRecord, OutgoingRecord, TopicNames
from shared.runtime.watermarks import (
    END_OF_INPUT_US,
    EventOrder,
    EventTimeJoin,
    Timed,
    describe,
    event_id_of,
    minus,
    timed_runs,
    to_us,
    watermark_record,
)

log = logging.getLogger(__name__)
# The input_watermarks row (topic) of the time a bounded wait released through.
FORCED = "__forced__"

# A route's decoder (batch.Decoder); aligned routes must decode in-process.
DecodeOne = Callable[[Sequence[ConsumedRecord]], Any]
Dispatch = Callable[[str, list[Timed]], Awaitable[None]]
# Read in the batch's transaction: the latest output watermark the service's own pending
# work allows (None: no limit), e.g. backtest's walk-forwards still running.
Hold = Callable[[asyncpg.Connection], Awaitable[int | None]]


@dataclass(frozen=True)
class WatermarkOutputs:
    """The contract topics whose watermark follows this service's input watermark: after
    every input has passed t, nothing the service still emits is at or before t - delay
    (pairs: a bar ending at t yields spreads stamped with its start, one interval earlier),
    nor at or after `hold` allows."""

    topics: tuple[str, ...]
    delay: timedelta = timedelta(0)
    hold: Hold | None = None
    # Outputs keyed like the inputs (same key, same partition count): a replica's watermark
    # goes only to the partition numbers it consumes, since other replicas write the others.
    co_partitioned: bool = False
    # The contract topics this watermark follows (None: every aligned or gating input), and
    # the source it speaks for when the output has several writers per partition.
    inputs: tuple[str, ...] | None = None
    source: str = ""


def as_outputs(
    outputs: WatermarkOutputs | Sequence[WatermarkOutputs] | None,
) -> tuple[WatermarkOutputs, ...]:
    """A service's declared watermark outputs, one per source (none, one or several)."""
    if outputs is None:
        return ()
    return (outputs,) if isinstance(outputs, WatermarkOutputs) else tuple(outputs)


@dataclass(frozen=True)
class AlignedInput:
    rank: int
    order: EventOrder
    decode: DecodeOne


class EventTime:
    def __init__(
        self,
        aligned: Mapping[str, AlignedInput],
        topics: TopicNames,
        group_id: str,
        producer_name: str,
        outputs: WatermarkOutputs | Sequence[WatermarkOutputs] | None = None,
        metrics: RuntimeMetrics | None = None,
        *,
        gating: Iterable[str] = (),
        max_wait_s: float | None = None,
        sources: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.aligned = dict(aligned)
        self.gating = frozenset(self.aligned) | frozenset(gating)
        # Live feeds: the longest an aligned event waits for a lagging input (None: forever).
        self.max_wait_s = max_wait_s
        self.topics = topics
        self.group_id = group_id
        self.producer_name = producer_name
        self.outputs = as_outputs(outputs)
        self.metrics = metrics
        self.sources = dict(sources or {})
        self.join = EventTimeJoin(self.gating, sources=self.sources)
        # The partitions this replica consumes (the consumer loop sets it): their watermarks
        # gate the release, and their pending events are ours. None (no consumer): every
        # partition heard from, and every pending event.
        self.owned: Callable[[], Iterable[tuple[str, int]]] | None = None
        # Partitions per real output topic (the runner asks the broker at start-up).
        self.output_partitions: dict[str, int] = {}
        self.last_output: dict[int, int] = {}  # per output: the latest watermark sent

    def assignment(self) -> list[tuple[str, int]]:
        return list(self.owned()) if self.owned is not None else list(self.join.watermarks)

    # ----- decoding (pure, before the transaction) -----------------------------------------
    def decode_aligned(
        self, real_topic: str, records: Sequence[ConsumedRecord]
    ) -> tuple[list[Timed], list[tuple[ConsumedRecord, str]]]:
        spec = self.aligned[real_topic]
        timed: list[Timed] = []
        dead: list[tuple[ConsumedRecord, str]] = []
        for record in records:
            result = spec.decode([record])
            if not isinstance(result, tuple):
                raise TypeError(f"the decoder of aligned {real_topic} must decode in-process")
            items, rejected = result
            dead.extend(rejected)
            for item in items:
                try:
                    when, tiebreak = spec.order(item)
                except (AttributeError, TypeError, ValueError) as exc:
                    dead.append((record, f"no event time: {exc}"))
                    continue
                raw = record.value or b""
                # Content decides the order: the event id (copies share it), never the
                # record's bytes (produced_at differs between runs) or its offset.
                ident = event_id_of(raw) or hashlib.blake2b(raw, digest_size=16).hexdigest()
                timed.append(
                    Timed(
                        to_us(when),
                        spec.rank,
                        tiebreak,
                        ident,
                        record.topic,
                        record.partition,
                        record.offset,
                        item,
                        raw,
                    )
                )
        return timed, dead

    # ----- state ---------------------------------------------------------------------------
    async def load(self, conn: asyncpg.Connection) -> None:
        """Rebuild watermarks and pending events from the tables (start-up, failed batch)."""
        join = EventTimeJoin(self.gating, sources=self.sources)
        rows = await conn.fetch(
            "SELECT topic, partition, watermark_us FROM input_watermarks WHERE group_id = $1",
            self.group_id,
        )
        join.watermarks = {
            (r["topic"], r["partition"]): r["watermark_us"] for r in rows if r["topic"] != FORCED
        }
        forced = [r["watermark_us"] for r in rows if r["topic"] == FORCED]
        join.forced_through = forced[0] if forced else None
        # Only what this replica consumes: another replica releases the rest.
        owned = sorted(self.owned()) if self.owned is not None else None
        pending = await conn.fetch(
            """SELECT e.topic, e.partition, e."offset", e.value FROM pending_events e
               WHERE e.group_id = $1
                 AND ($2::text[] IS NULL OR (e.topic, e.partition) IN
                      (SELECT * FROM unnest($2::text[], $3::int[])))
               ORDER BY e.topic, e.partition, e."offset\"""",
            self.group_id,
            None if owned is None else [t for t, _ in owned],
            None if owned is None else [p for _, p in owned],
        )
        for r in pending:
            if r["topic"] not in self.aligned:
                continue
            record = ConsumedRecord(
                r["topic"], r["partition"], r["offset"], None, bytes(r["value"])
            )
            timed, _ = self.decode_aligned(r["topic"], [record])
            join.pending.extend(timed)
            join.mark_persisted(timed)
        self.join = join
        self.last_output = {}  # sent again after a restart: copies are harmless

    # ----- the batch's step ----------------------------------------------------------------
    async def step(
        self,
        conn: asyncpg.Connection,
        marks: Mapping[tuple[str, int], int],
        timed: Sequence[Timed],
        dispatch: Dispatch,
        on_watermark: Callable[[dict[tuple[str, int], int]], Awaitable[None]],
        emitted: list[OutgoingRecord],
    ) -> None:
        join = self.join
        before = join.input_watermark(self.assignment())
        advanced = join.observe(marks)
        if advanced:
            await on_watermark(advanced)
        now = time.monotonic()
        late = join.add(timed, before, now)
        if late and self.metrics is not None:
            self.metrics.late_events.inc(late)
        current = join.input_watermark(self.assignment())
        forced = self._give_up_waiting(current, now)
        if forced is not None:
            await self._record_forced(conn, *forced)
            current = join.input_watermark(self.assignment())
        released = join.release(current)
        for real_topic, items in timed_runs(released.items):
            await dispatch(real_topic, items)
        await self._persist(conn, advanced, released.persisted)
        for index, output in enumerate(self.outputs):
            await self._emit_output(conn, index, output, emitted)
        if current is not None and self.metrics is not None:
            self.metrics.input_watermark.set(min(current, END_OF_INPUT_US) / 1e6)
        if advanced and self.metrics is not None:
            self._report_topic_watermarks(self.metrics)
        if self.metrics is not None:
            self.metrics.pending_events.set(len(join.pending))

    def _report_topic_watermarks(self, metrics: RuntimeMetrics) -> None:
        """Each aligned input's own watermark: which input the others wait for."""
        assigned = self.assignment()
        for topic in sorted(self.join.gating_topics):
            mark = self.join.input_watermark(assigned, (topic,))
            if mark is not None:
                metrics.topic_watermark(topic=topic).set(min(mark, END_OF_INPUT_US) / 1e6)

    def overdue(self) -> bool:
        """Whether a pending event has waited longer than the bounded wait allows (the
        consumer loop then runs an empty batch, so the wait ends even on a silent stream)."""
        current = self.join.input_watermark(self.assignment())
        return self._overdue_through(current, time.monotonic()) is not None

    def _overdue_through(self, current: int | None, now: float) -> int | None:
        """How far the bounded wait must release beyond `current` (None: nothing is due)."""
        if self.max_wait_s is None or not self.join.pending:
            return None
        through = self.join.overdue(now, self.max_wait_s)
        if through is None or (current is not None and through <= current):
            return None
        return through

    def _give_up_waiting(self, current: int | None, now: float) -> tuple[int, list[str]] | None:
        through = self._overdue_through(current, now)
        if through is None:
            return None
        return through, self.join.force(through, self.assignment())

    async def _record_forced(
        self, conn: asyncpg.Connection, through: int, lagging: list[str]
    ) -> None:
        """Counted, logged and stored: every place where live output may differ from a replay."""
        assert self.max_wait_s is not None
        log.warning(
            "gave up waiting %.1f s for %s: released through %s",
            self.max_wait_s, ", ".join(lagging) or "(none)", describe(through),
        )  # fmt: skip
        if self.metrics is not None:
            self.metrics.wait_expired.inc()
        await conn.execute(
            """INSERT INTO forced_releases (group_id, released_through_us, lagging, waited_s)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
            self.group_id, through, ", ".join(lagging), self.max_wait_s,
        )  # fmt: skip
        await self._save_watermarks(conn, {(FORCED, 0): through})

    async def _save_watermarks(
        self, conn: asyncpg.Connection, marks: Mapping[tuple[str, int], int]
    ) -> None:
        """Upsert watermarks; a stored one never moves back."""
        await conn.execute(
            """INSERT INTO input_watermarks AS w (group_id, topic, partition, watermark_us)
               SELECT $1, t, p, m FROM unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, m)
               ON CONFLICT (group_id, topic, partition) DO UPDATE
                  SET watermark_us = GREATEST(w.watermark_us, EXCLUDED.watermark_us),
                      updated_at = now()""",
            self.group_id,
            [t for t, _ in marks],
            [p for _, p in marks],
            list(marks.values()),
        )

    async def _persist(
        self,
        conn: asyncpg.Connection,
        advanced: Mapping[tuple[str, int], int],
        released: Sequence[Timed],
    ) -> None:
        if advanced:
            await self._save_watermarks(conn, advanced)
        if released:
            await conn.execute(
                """DELETE FROM pending_events e
                   USING unnest($2::text[], $3::int[], $4::bigint[]) AS x(t, p, o)
                   WHERE e.group_id = $1 AND e.topic = x.t AND e.partition = x.p
                     AND e."offset" = x.o""",
                self.group_id,
                [t.topic for t in released],
                [t.partition for t in released],
                [t.offset for t in released],
            )
        waiting = self.join.unpersisted()
        if waiting:
            await conn.copy_records_to_table(
                "pending_events",
                columns=["group_id", "topic", "partition", "offset", "event_time_us", "value"],
                records=[
                    (self.group_id, t.topic, t.partition, t.offset, t.time_us, t.raw)
                    for t in waiting
                ],
            )
            self.join.mark_persisted(waiting)

    async def _emit_output(
        self,
        conn: asyncpg.Connection,
        index: int,
        output: WatermarkOutputs,
        emitted: list[OutgoingRecord],
    ) -> None:
        inputs = None if output.inputs is None else [self.topics.real(t) for t in output.inputs]
        assigned = self.assignment()
        if inputs is not None:
            assigned = [tp for tp in assigned if tp[0] in inputs]
        current = self.join.input_watermark(assigned, inputs)
        if current is None:
            return
        out = minus(current, output.delay)
        if output.hold is not None:
            held = await output.hold(conn)
            out = out if held is None else min(out, held)
        last = self.last_output.get(index)
        if last is not None and out <= last:
            return
        self.last_output[index] = out
        owned = sorted({p for _, p in assigned})
        for contract_topic in output.topics:
            real = self.topics.real(contract_topic)
            count = self.output_partitions.get(real, 0)
            for partition in owned if output.co_partitioned else range(count):
                if partition < count:
                    emitted.append(
                        watermark_record(real, partition, out, self.producer_name, output.source)
                    )
        if out >= END_OF_INPUT_US:
            log.info("input watermark reached the end of input")
