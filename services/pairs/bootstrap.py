"""The pairs service, declared: routes, start-up state, screen-request poller, HTTP API."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.pairs.api import build_router
from services.pairs.domain.screening import ScreenFn
from services.pairs.handlers import PairsApp
from services.pairs.precomputed import ScreensFirst
from services.pairs.screen_grid import ReplicaGrid, ScreenGrid
from services.pairs.settings import PairsSettings
from services.pairs.store import PgPairsStore
from shared.events.market import INTERVAL_SECONDS
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.inputs import bar_order, bars_decoder
from shared.runtime.process_pool import workers_for
from shared.runtime.retry import retry_transient
from shared.runtime.service import Runtime, ServiceContext, ServiceDefinition
from shared.topics import MARKET_BARS, PAIRS_LIFECYCLE, PAIRS_SPREADS, PAIRS_TESTS

__all__ = ["PairsSettings", "definition"]
log = logging.getLogger(__name__)
Context = ServiceContext[PairsSettings, PairsApp]


def definition() -> ServiceDefinition[PairsSettings, PairsApp]:
    return ServiceDefinition(
        name="pairs",
        settings=PairsSettings,
        build_app=pairs_app,
        routes=routes,
        migrations=[("pairs", Path(__file__).parent / "migrations")],
        api=build_router,
        on_start=load,
        background=[screen_request_job, screen_grid_job],
        # The universe is a cross-section of every bars partition: one owner, standbys.
        partitioning="exclusive",
        watermark_outputs=lambda s: WatermarkOutputs(
            (PAIRS_TESTS.name, PAIRS_LIFECYCLE.name, PAIRS_SPREADS.name),
            delay=timedelta(seconds=INTERVAL_SECONDS[s.pairs_interval]),
        ),
    )


def pairs_app(rt: Runtime[PairsSettings]) -> PairsApp:
    settings = rt.settings
    grid: Callable[[ScreenFn], ScreenFn] | None = None
    if settings.pairs_screen_grid_blocks > 0:
        replicas = ReplicaGrid(
            rt.pool,
            rt.store.replica or rt.producer_name,
            asyncio.get_running_loop(),
            lease_s=settings.pairs_screen_grid_lease_s,
        )

        def grid(local: ScreenFn) -> ScreenFn:
            blocks, least = settings.pairs_screen_grid_blocks, settings.pairs_screen_grid_min_pairs
            return ScreenGrid(replicas, blocks, least, local)

    app = PairsApp(
        settings.pipeline_config(),
        workers_for(settings.pairs_screen_workers),
        rt.metrics.registry,
        grid,
    )
    if grid is not None:
        replicas.on_computed = app.metrics.screen_blocks.inc
        app.grid = replicas
    return app


async def screen_grid_job(ctx: Context) -> None:
    """Every replica, the standbys too, computes screen blocks (screen_grid.py). Without
    the grid it idles until the service stops: a background job that ends stops it."""
    if ctx.app.grid is not None:
        await ctx.app.grid.work()
    else:
        await asyncio.Event().wait()


def routes(ctx: Context) -> list[Route[Any]]:
    interval = ctx.app.config.interval
    return [Route(MARKET_BARS.name, ctx.app.handle_bars, bars_decoder(interval), aligned=bar_order)]


async def load(ctx: Context) -> None:
    async with ctx.app.lock, ctx.pool.acquire() as conn:
        await ctx.app.load(PgPairsStore(conn))


async def screen_request_job(ctx: Context) -> None:
    """Process recorded screen requests while no batch does (e.g. the stream is idle)."""
    app, period = ctx.app, ctx.settings.pairs_request_poll_s
    while True:
        await asyncio.sleep(period)
        if app.stepped_within(ctx.clock.now(), timedelta(seconds=period)):
            continue  # bars flow: the batches process the requests
        try:
            await process_requests(ctx)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("screen request processing failed; reloading state")
            # Retried: in a database outage the reload fails too, and a background job that
            # raises stops the whole service (issue 19, item 2).
            await retry_transient("reload pairs state", lambda: load(ctx))


async def process_requests(ctx: Context) -> None:
    """One unit of work; the screens it needs are computed first, with it rolled back and
    the lock released (as the consumer loop does for a batch, precomputed.py)."""
    app = ctx.app
    while True:
        try:
            async with app.lock, ctx.unit_of_work() as uow:
                store = PgPairsStore(uow.conn)
                await app.process_requests(
                    store, uow.emit, producer=uow.producer_name, clock=uow.clock
                )
            return
        except ScreensFirst as need:
            await need.compute()
