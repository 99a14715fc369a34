"""market_data handlers: ticks in, ticks and bars stored, bars out (in one transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.market_data.domain.bars import BarAggregator, BarConfig
from services.market_data.domain.validation import (
    AcceptedTick,
    TickLimits,
    decode_ticks,
    first_occurrences,
)
from services.market_data.store import MarketDataStore, tick_copy_payload
from shared.clock import Clock
from shared.events import make_envelope
from shared.runtime.batch import BatchContext, DecodeResult
from shared.runtime.records import ConsumedRecord, record_values
from shared.topics import MARKET_BARS


class MarketData:
    """The service's state (the bar aggregator) and its handlers."""

    def __init__(self, store: MarketDataStore, config: BarConfig, limits: TickLimits, clock: Clock):
        self.store = store
        self.config = config
        self.limits = limits
        self.clock = clock
        self.aggregator = BarAggregator(config)
        self.max_grace_us = max(config.grace_us(i) for i in config.intervals)

    async def load(self, conn: Any) -> None:
        marks, rows = await self.store.load_state(conn, self.max_grace_us)
        self.aggregator = BarAggregator.restore(self.config, marks, rows)

    def decode(self, records: Sequence[ConsumedRecord]) -> DecodeResult:
        # Values only: a ConsumedRecord is built just for the records that are dead-lettered.
        values = record_values(records)
        present = [v for v in values if v is not None]
        positions = [i for i, v in enumerate(values) if v is not None]
        accepted, rejected = decode_ticks(present, self.clock, self.limits)
        dead = [
            (i, "empty record value (tombstone) is not a tick")
            for i, v in enumerate(values)
            if v is None
        ]
        dead.extend((positions[x.position], x.reason) for x in rejected)
        return accepted, [(records[i], reason) for i, reason in dead]

    async def handle_ticks(self, ticks: list[AcceptedTick], ctx: BatchContext) -> None:
        unique = first_occurrences(ticks)
        payload = tick_copy_payload(unique)
        # The usual batch holds only new ticks: aggregate them while the server ingests the
        # COPY. If some were stored before (a producer retry across batches), that guess
        # was wrong: the aggregator is reloaded from the tables, which this transaction has
        # not touched yet, and only the fresh ticks are applied.
        all_new, changes = await self.store.copy_if_all_new(
            ctx.conn, payload, lambda: self.aggregator.apply(unique)
        )
        fresh: Sequence[AcceptedTick] = unique
        if not all_new:
            await self.load(ctx.conn)
            fresh = await self.store.insert_fresh_through_stage(ctx.conn, unique, payload)
            changes = self.aggregator.apply(fresh)
        await self.store.upsert_bars(ctx.conn, changes.upserts)
        await self.store.insert_late(ctx.conn, changes.late)
        await self.store.save_watermarks(ctx.conn, changes.watermarks)
        now = ctx.clock.now()
        for bar in changes.publish:
            ctx.emit(
                MARKET_BARS.name,
                make_envelope(
                    bar,
                    event_id=bar.event_id(),
                    occurred_at=bar.end,
                    key=bar.symbol,
                    producer=ctx.producer_name,
                    produced_at=now,
                ),
            )
        ctx.state["late_ticks"] = ctx.state.get("late_ticks", 0) + len(changes.late)
        ctx.state["duplicate_ticks"] = len(ticks) - len(fresh)
