"""The portfolio service, declared: routes, tables, state loading and the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter

from services.portfolio.api import build_router
from services.portfolio.handlers import PortfolioHandlers
from services.portfolio.settings import PortfolioSettings
from services.portfolio.store import PgPortfolioStore, PortfolioStore
from shared.events.market import INTERVAL_SECONDS
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import Runtime, ServiceContext, ServiceDefinition
from shared.topics import PORTFOLIO_ORDERS, PORTFOLIO_POSITIONS

__all__ = ["PortfolioSettings", "definition"]
MIGRATIONS = Path(__file__).parent / "migrations"
Context = ServiceContext[PortfolioSettings, PortfolioHandlers]


def definition() -> ServiceDefinition[PortfolioSettings, PortfolioHandlers]:
    return ServiceDefinition(
        name="portfolio",
        settings=PortfolioSettings,
        build_app=handlers,
        routes=lambda ctx: ctx.app.routes(),
        migrations=[("portfolio", MIGRATIONS)],
        api=api,
        on_start=load,
        # Netting needs the whole book (every pair, every symbol): one owner, standbys.
        partitioning="exclusive",
        # Bars are released at their end and yield orders and marks stamped with their
        # start, one interval earlier (like pairs' spreads).
        watermark_outputs=lambda s: WatermarkOutputs(
            (PORTFOLIO_ORDERS.name, PORTFOLIO_POSITIONS.name),
            delay=timedelta(seconds=INTERVAL_SECONDS[s.portfolio_interval]),
        ),
    )


def handlers(rt: Runtime[PortfolioSettings]) -> PortfolioHandlers:
    settings = rt.settings
    return PortfolioHandlers(settings.portfolio_config(), settings.portfolio_interval,
                             PgPortfolioStore, rt.metrics.registry)  # fmt: skip


async def load(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        await ctx.app.load(PgPortfolioStore(conn))


def api(ctx: Context) -> APIRouter:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[PortfolioStore]:
        async with ctx.pool.acquire() as conn:
            yield PgPortfolioStore(conn)

    return build_router(open_store, ctx.app.config)
