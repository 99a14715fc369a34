"""The market_data service, declared: state, routes, start-up check, decode worker, API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.market_data.api import build_router
from services.market_data.decode_worker import DecodeWorker, worker_lifetime
from services.market_data.handlers import MarketData
from services.market_data.settings import MarketDataSettings
from services.market_data.store import MarketDataStore
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import Runtime, ServiceContext, ServiceDefinition
from shared.topics import MARKET_BARS, MARKET_TICKS, co_partitioned_with

__all__ = ["MarketDataSettings", "check_co_partitioned", "definition"]
Context = ServiceContext[MarketDataSettings, MarketData]


def definition() -> ServiceDefinition[MarketDataSettings, MarketData]:
    return ServiceDefinition(
        name="market_data",
        settings=MarketDataSettings,
        build_app=market_data,
        routes=routes,
        migrations=[("market_data", Path(__file__).parent / "migrations")],
        api=lambda ctx: build_router(ctx, ctx.app.store),
        start_checks=[check_co_partitioned],
        on_start=load,
        # The decode worker lives as long as the service runs (background jobs end at stop).
        background=[lambda ctx: worker_lifetime(ctx.app.worker)],
        # Bar watermarks go per partition (on_tick_watermarks); declared for their count.
        watermark_outputs=lambda _settings: WatermarkOutputs((MARKET_BARS.name,)),
        co_partitioned_topics=co_partitioned_with(MARKET_TICKS.name),
    )


def market_data(rt: Runtime[MarketDataSettings]) -> MarketData:
    limits = rt.settings.tick_limits()
    worker = DecodeWorker(limits) if rt.settings.decode_worker else None
    return MarketData(MarketDataStore(), rt.settings.bar_config(), limits, rt.clock, worker)


def routes(ctx: Context) -> list[Route[Any]]:
    svc = ctx.app
    return [
        Route(
            MARKET_TICKS.name,
            svc.handle_ticks,
            decode=svc.decode,
            overlaps_next_batch=True,
            on_watermark=svc.on_tick_watermarks,
            # A tick's event id is derived from its content (feeds/encoding.py) and keys the
            # ticks table (first one wins): a second id table would only slow the flood.
            checks_event_ids=False,
        )
    ]


async def load(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        await ctx.app.load(conn)


async def check_co_partitioned(ctx: Context) -> None:
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
