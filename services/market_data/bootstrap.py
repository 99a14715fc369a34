"""Wiring of the market_data service: settings, state, routes, API."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator

from services.market_data.api import build_router
from services.market_data.decode_worker import DecodeWorker
from services.market_data.domain.bars import BarConfig
from services.market_data.domain.validation import TickLimits
from services.market_data.handlers import MarketData
from services.market_data.store import MarketDataStore
from shared.events.market import INTERVAL_SECONDS
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import MARKET_BARS, MARKET_TICKS


class MarketDataSettings(ServiceSettings):
    # Ticks are small and come in floods: 10k per batch (a few MB) makes the per-batch costs
    # (transaction, commit flush, offsets, outbox, bar upserts) small per tick. 20k was no
    # faster once fetch, decode and the server's COPY overlap (bench/ingest.py: 186-189k vs
    # 194-197k ticks/s), and it held ~55 MB more (two batches are alive at once).
    batch_max_records: int = Field(default=10_000, ge=1, le=100_000)
    bar_intervals: str = "1m,1h,1d"
    # 5 min covers the reordering of a live feed; larger grace keeps more bars revisable.
    bar_grace_seconds: float = Field(default=300.0, ge=0.0)
    max_price: float = Field(default=1e7, gt=0.0)
    max_future_seconds: float = Field(default=300.0, ge=0.0)
    close_bars_on_clock: bool = False
    # Decode ticks in a worker process, on another core, while the event loop stores the
    # previous batch (decode_worker.py). Off: everything in one process (one core).
    decode_worker: bool = True

    @field_validator("bar_intervals")
    @classmethod
    def _intervals(cls, value: str) -> str:
        names = [v.strip() for v in value.split(",") if v.strip()]
        bad = [n for n in names if n not in INTERVAL_SECONDS]
        if not names or bad:
            raise ValueError(f"bar intervals must be among {list(INTERVAL_SECONDS)}, got {value!r}")
        return ",".join(names)

    def bar_config(self) -> BarConfig:
        intervals = tuple(self.bar_intervals.split(","))
        grace = timedelta(seconds=self.bar_grace_seconds)
        return BarConfig(intervals, {i: grace for i in intervals}, self.close_bars_on_clock)

    def tick_limits(self) -> TickLimits:
        return TickLimits(
            max_price=self.max_price, max_future=timedelta(seconds=self.max_future_seconds)
        )


SETTINGS = MarketDataSettings


async def check_co_partitioned(ctx: ServiceContext) -> None:
    """Bar partition p takes its watermark from tick partition p: both topics must have the
    same partition count (and the same key, the symbol), or bars would be promised wrongly."""
    counts = {}
    for spec in (MARKET_TICKS, MARKET_BARS):
        found = await ctx.producer.partitions_for(ctx.topics.real(spec.name))
        counts[spec.name] = len(found or ())
    if counts[MARKET_TICKS.name] != counts[MARKET_BARS.name]:
        raise RuntimeError(
            f"{MARKET_TICKS.name} has {counts[MARKET_TICKS.name]} partitions and "
            f"{MARKET_BARS.name} {counts[MARKET_BARS.name]}: they must be co-partitioned "
            "(same count) for bar watermarks; recreate one of them"
        )


def definition() -> ServiceDefinition:
    store = MarketDataStore()
    holder: dict[str, MarketData] = {}
    checked: list[bool] = []

    def service(ctx: ServiceContext) -> MarketData:
        if "svc" not in holder:
            settings = ctx.settings
            assert isinstance(settings, MarketDataSettings)
            limits = settings.tick_limits()
            worker = DecodeWorker(limits) if settings.decode_worker else None
            holder["svc"] = MarketData(store, settings.bar_config(), limits, ctx.clock, worker)
        return holder["svc"]

    async def decode_worker_lifetime(ctx: ServiceContext) -> None:
        """The worker lives as long as the service runs (background jobs end at stop)."""
        worker = service(ctx).worker
        if worker is not None:
            worker.start()
        try:
            await asyncio.Event().wait()
        finally:
            if worker is not None:
                worker.close()

    def routes(ctx: ServiceContext) -> list[Route]:
        svc = service(ctx)
        return [
            Route(
                MARKET_TICKS.name,
                svc.handle_ticks,
                decode=svc.decode,
                overlaps_next_batch=True,
                on_watermark=svc.on_tick_watermarks,
            )
        ]

    async def on_start(ctx: ServiceContext) -> None:
        if not checked:  # once: on_start also reloads state before a retried batch
            await check_co_partitioned(ctx)
            checked.append(True)
        async with ctx.pool.acquire() as conn:
            await service(ctx).load(conn)

    return ServiceDefinition(
        name="market_data",
        routes=routes,
        migrations=[("market_data", Path(__file__).parent / "migrations")],
        api=lambda ctx: build_router(ctx, store),
        on_start=on_start,
        background=[decode_worker_lifetime],
        # Bar watermarks go per partition (on_tick_watermarks); declared for their count.
        watermark_outputs=lambda _settings: WatermarkOutputs((MARKET_BARS.name,)),
    )
