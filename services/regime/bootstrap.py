"""The regime service, declared: state, routes, API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from services.regime.api import build_router
from services.regime.handlers import RegimeService
from services.regime.settings import RegimeSettings
from services.regime.store import PostgresRegimeStore, RegimeStore
from shared.events.market import INTERVAL_SECONDS
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.inputs import bar_order, bars_decoder
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.topics import MARKET_BARS, PAIRS_SPREADS, REGIME_SHIFTS, co_partitioned_with

__all__ = ["RegimeSettings", "definition", "regime_routes"]
Context = ServiceContext[RegimeSettings, RegimeService]


def definition(
    store: RegimeStore | None = None,
) -> ServiceDefinition[RegimeSettings, RegimeService]:
    regime_store = store or PostgresRegimeStore()
    return ServiceDefinition(
        name="regime",
        settings=RegimeSettings,
        build_app=lambda rt: RegimeService(
            regime_store, rt.settings.regime_config(), rt.metrics.registry
        ),
        routes=lambda ctx: regime_routes(ctx.app),
        migrations=[("regime", Path(__file__).parent / "migrations")],
        api=lambda ctx: build_router(ctx, ctx.app.store),
        on_start=load,
        watermark_outputs=outputs,
        # The market series is a cross-section of every bars partition: one replica owns
        # them all. Pair scopes follow their spreads' partitions, and their shifts go to the
        # same partition number of regime.shifts (keyed by pair id, like the spreads).
        exclusive_topics=(MARKET_BARS.name,),
        co_partitioned_topics=co_partitioned_with(REGIME_SHIFTS.name),
    )


async def load(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        await ctx.app.load(conn)


def regime_routes(svc: RegimeService) -> list[Route[Any]]:
    """Bars wait for every bars partition to pass their time (the market series is a
    cross-section); spreads need no join (each pair's series is one partition's order).
    Each feeds its own watermark source of regime.shifts (`outputs`): the market source
    follows the bars alone, so their release must not wait for spreads either, or the
    market's watermark would run ahead of the shifts still to come."""
    return [
        Route(
            MARKET_BARS.name,
            svc.handle_bars,
            decode=bars_decoder(svc.config.bar_interval),
            aligned=bar_order,
        ),
        Route(PAIRS_SPREADS.name, svc.handle_spreads),
    ]


def outputs(settings: RegimeSettings) -> tuple[WatermarkOutputs, ...]:
    """Shifts are stamped with a bar's start, one interval before the bar's event time. Two
    writers per partition of regime.shifts, each with its own watermark: the bars' owner for
    the market scope (broadcast to every partition), each spreads partition's owner for its
    pair scopes."""
    width = timedelta(seconds=INTERVAL_SECONDS[settings.regime_bar_interval])
    shifts = (REGIME_SHIFTS.name,)
    return (
        WatermarkOutputs(shifts, delay=width, inputs=(MARKET_BARS.name,), source="market"),
        WatermarkOutputs(
            shifts, delay=width, inputs=(PAIRS_SPREADS.name,), source="pairs", co_partitioned=True
        ),
    )
