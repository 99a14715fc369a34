"""market_data handlers: ticks in, ticks and bars stored, bars out (in one transaction)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.market_data.decode_worker import DecodeWorker
from services.market_data.domain.bar_state import BarChanges
from services.market_data.domain.bars import BarAggregator, BarConfig
from services.market_data.domain.validation import (
    AcceptedTick,
    Rejection,
    TickLimits,
    decode_ticks,
    first_occurrences,
)
from services.market_data.store import MarketDataStore, tick_copy_payload
from shared.clock import Clock, ManualClock
from shared.events import Bar, Envelope, make_envelope
from shared.runtime.batch import BatchContext, DecodeResult, PendingDecode
from shared.runtime.event_keys import record_key_problem
from shared.runtime.records import (
    ConsumedRecord,
    partition_for_key,
    record_keys,
    record_values,
)
from shared.runtime.watermarks import minus
from shared.topics import MARKET_BARS


@dataclass(frozen=True)
class TickBatch:
    """A batch's accepted ticks, ready to store: the decoder of market.ticks.v1 gives one per
    batch. Deduplicating and building the COPY payload are pure work, so they are done while
    decoding, before the batch's transaction (the consumer loop collects a worker's decode
    while the previous batch waits for the database: see consumer.py)."""

    accepted: list[AcceptedTick]  # in batch order, repeats of a tick id included
    unique: list[AcceptedTick]  # first occurrences only
    copy_payload: bytes  # tick_copy_payload(unique)

    @classmethod
    def of(cls, accepted: list[AcceptedTick]) -> TickBatch:
        unique = first_occurrences(accepted)
        return cls(accepted, unique, tick_copy_payload(unique))


class MarketData:
    """The service's state (the bar aggregator) and its handlers."""

    def __init__(
        self,
        store: MarketDataStore,
        config: BarConfig,
        limits: TickLimits,
        clock: Clock,
        worker: DecodeWorker | None = None,
    ):
        self.store = store
        self.config = config
        self.limits = limits
        self.clock = clock
        self.worker = worker
        self.aggregator = BarAggregator(config)
        self._partitions: dict[tuple[str, int], int] = {}
        self.max_grace_us = max(config.grace_us(i) for i in config.intervals)
        self.max_grace = timedelta(microseconds=self.max_grace_us)

    async def load(self, conn: Any) -> None:
        marks, rows = await self.store.load_state(conn, self.max_grace_us)
        self.aggregator = BarAggregator.restore(self.config, marks, rows)

    def decode(self, records: Sequence[ConsumedRecord]) -> DecodeResult | PendingDecode:
        # Values only: a ConsumedRecord is built just for the records that are dead-lettered.
        values = record_values(records)
        present = [v for v in values if v is not None]
        now = self.clock.now()
        clock = ManualClock(now)  # one horizon for the whole batch, wherever it is decoded
        # The jump check reads the previous accepted price, record after record: that order
        # is kept only in-process.
        if self.worker is not None and self.limits.max_relative_jump is None:
            mine = len(present) - self.worker.share(len(present))
            answer = self.worker.submit(present[mine:], now)
            if answer is not None:
                local = decode_ticks(present[:mine], clock, self.limits)
                return _PendingTicks(self.worker, answer, records, values, present, local, now)
        accepted, rejected = decode_ticks(present, clock, self.limits)
        return _with_dead_letters(records, values, accepted, rejected)

    async def handle_ticks(self, batches: list[TickBatch], ctx: BatchContext) -> None:
        for batch in batches:
            await self.store_ticks(batch, ctx)

    async def store_ticks(self, batch: TickBatch, ctx: BatchContext) -> None:
        unique, payload = batch.unique, batch.copy_payload

        def while_copying() -> BarChanges:
            # The COPY is on the wire: once this returns and the handler awaits the server,
            # the consumer loop fetches and decodes the next batch on this core.
            ctx.overlap_next_batch()
            return self.aggregator.apply(unique)

        # The usual batch holds only new ticks: aggregate them while the server ingests the
        # COPY. If some were stored before (a producer retry across batches), that guess
        # was wrong: the aggregator is reloaded from the tables, which this transaction has
        # not touched yet, and only the fresh ticks are applied.
        all_new, changes = await self.store.copy_if_all_new(ctx.conn, payload, while_copying)
        fresh: Sequence[AcceptedTick] = unique
        if not all_new:
            await self.load(ctx.conn)
            fresh = await self.store.insert_fresh_through_stage(ctx.conn, unique, payload)
            changes = self.aggregator.apply(fresh)
        await self._write(changes, ctx)
        ctx.state["late_ticks"] = ctx.state.get("late_ticks", 0) + len(changes.late)
        ctx.state["duplicate_ticks"] = len(batch.accepted) - len(fresh)

    async def on_tick_watermarks(self, marks: dict[int, int], ctx: BatchContext) -> None:
        """The feed passed time S on tick partition p: bars of p's symbols ending by S close,
        and bar partition p (same key, same partition count: co-partitioned) learns that no
        bar or revision ending at or before S - grace follows."""
        partitions = ctx.partitions(MARKET_BARS.name)
        if not partitions:
            return
        changes = self.aggregator.advance_watermarks(
            marks, lambda symbol: self._partition_of(symbol, partitions)
        )
        await self._write(changes, ctx)
        for partition, mark in sorted(marks.items()):
            if partition < partitions:
                ctx.emit_watermark(MARKET_BARS.name, partition, minus(mark, self.max_grace))

    def _partition_of(self, symbol: str, partitions: int) -> int:
        key = (symbol, partitions)
        found = self._partitions.get(key)
        if found is None:
            found = self._partitions[key] = partition_for_key(symbol, partitions)
        return found

    async def _write(self, changes: BarChanges, ctx: BatchContext) -> None:
        await self.store.upsert_bars(ctx.conn, changes.upserts)
        await self.store.insert_late(ctx.conn, changes.late)
        await self.store.save_watermarks(ctx.conn, changes.watermarks)
        now = ctx.clock.now()
        for bar in changes.publish:
            ctx.emit(MARKET_BARS.name, bar_envelope(bar, ctx.producer_name, now))


def bar_envelope(bar: Bar, producer: str, now: datetime) -> Envelope[Bar]:
    return make_envelope(
        bar, event_id=bar.event_id(), occurred_at=bar.end, key=bar.symbol,
        producer=producer, produced_at=now,
    )  # fmt: skip


def _with_dead_letters(
    records: Sequence[ConsumedRecord],
    values: list[bytes | None],
    accepted: list[AcceptedTick],
    rejected: list[Rejection],
) -> DecodeResult:
    """The accepted ticks as one TickBatch (none if none), and the records to dead-letter
    with their reasons."""
    dead = [
        (i, "empty record value (tombstone) is not a tick")
        for i, v in enumerate(values)
        if v is None
    ]
    positions = [i for i, v in enumerate(values) if v is not None]
    if rejected:
        dead.extend((positions[x.position], x.reason) for x in rejected)
    accepted = _keyed_as_their_symbol(records, positions, accepted, rejected, dead)
    batches = [TickBatch.of(accepted)] if accepted else []
    return batches, [(records[i], reason) for i, reason in dead]


def _keyed_as_their_symbol(
    records: Sequence[ConsumedRecord],
    positions: list[int],
    accepted: list[AcceptedTick],
    rejected: list[Rejection],
    dead: list[tuple[int, str]],
) -> list[AcceptedTick]:
    """The accepted ticks whose record key is their symbol (the envelope's key, checked by
    decode_ticks); the others are added to `dead`. A tick keyed otherwise sits in another
    partition than its symbol's, and two replicas would each build a bar of the symbol."""
    keys = record_keys(records)
    taken = {x.position for x in rejected}
    at = [positions[j] for j in range(len(positions)) if j not in taken] if taken else positions
    encoded: dict[str, bytes] = {}
    wrong: list[int] = []
    for n, (i, tick) in enumerate(zip(at, accepted, strict=True)):
        key = keys[i]
        symbol = tick.symbol
        want = encoded.get(symbol)
        if want is None:
            want = encoded[symbol] = symbol.encode()
        # The symbols' bytes are cached: the shared check runs only on a mismatch.
        if key is not None and key != want:
            why = record_key_problem(key, symbol)
            assert why is not None
            wrong.append(n)
            dead.append((i, why))
    if not wrong:
        return accepted
    drop = set(wrong)
    return [t for n, t in enumerate(accepted) if n not in drop]


class _PendingTicks(PendingDecode):
    """A batch's ticks: the first part decoded here, the rest by the worker process."""

    def __init__(
        self,
        worker: DecodeWorker,
        answer: asyncio.Task[bytearray],
        records: Sequence[ConsumedRecord],
        values: list[bytes | None],
        present: list[bytes],
        local: tuple[list[AcceptedTick], list[Rejection]],
        now: datetime,
    ) -> None:
        self.worker, self.answer = worker, answer
        self.records, self.values, self.present, self.now = records, values, present, now
        self.local = local
        self.worker_was_late = False

    def needed(self) -> None:
        self.worker_was_late = not self.answer.done()

    async def result(self) -> DecodeResult:
        accepted, rejected = self.local
        mine = len(accepted) + len(rejected)  # every local record is one or the other
        theirs = self.present[mine:]
        their_accepted, their_rejected = await self.worker.collect(self.answer, theirs, self.now)
        self.worker.balance(self.worker_was_late)
        rejected = rejected + [Rejection(mine + r.position, r.reason) for r in their_rejected]
        return _with_dead_letters(self.records, self.values, accepted + their_accepted, rejected)
