"""The signals service, declared: state, routes, tables, state loading and the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter

from core.strategy import PairLifecycle
from services.signals.api import build_router
from services.signals.domain import ParamsBook, SignalEngine
from services.signals.domain.records import EngineSnapshot
from services.signals.handlers import SignalsHandlers
from services.signals.settings import SignalsSettings
from services.signals.store import PostgresSignalsStore, SignalsStore
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import Runtime, ServiceContext, ServiceDefinition
from shared.topics import SIGNALS, co_partitioned_with

__all__ = ["SignalsSettings", "definition", "make_engine"]
MIGRATIONS = Path(__file__).parent / "migrations"
Context = ServiceContext[SignalsSettings, SignalsHandlers]
SIGNALS_CO_PARTITIONED = co_partitioned_with(SIGNALS.name)


def definition() -> ServiceDefinition[SignalsSettings, SignalsHandlers]:
    return ServiceDefinition(
        name="signals",
        settings=SignalsSettings,
        build_app=handlers,
        routes=lambda ctx: ctx.app.routes(),
        migrations=[("signals", MIGRATIONS)],
        api=api,
        on_start=load,
        # A pair's lifecycle, spreads, regime and parameters, and its signals, share one
        # partition number; the market regime is broadcast to every partition (regime).
        watermark_outputs=lambda _settings: WatermarkOutputs((SIGNALS.name,), co_partitioned=True),
        co_partitioned_topics=SIGNALS_CO_PARTITIONED,
    )


def make_engine(settings: SignalsSettings, snapshot: EngineSnapshot | None) -> SignalEngine:
    book = ParamsBook(settings.default_params(), settings.no_trade_regimes())
    return SignalEngine(
        book,
        unknown_lifecycle=PairLifecycle(settings.signals_unknown_pair_state),
        snapshot=snapshot,
    )


def handlers(rt: Runtime[SignalsSettings]) -> SignalsHandlers:
    settings = rt.settings
    return SignalsHandlers(
        lambda snapshot: make_engine(settings, snapshot),
        PostgresSignalsStore,
        registry=rt.metrics.registry,
        await_params=settings.signals_await_params,
    )


async def load(ctx: Context) -> None:
    async with ctx.pool.acquire() as conn:
        await ctx.app.load(PostgresSignalsStore(conn))


def api(ctx: Context) -> APIRouter:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[SignalsStore]:
        async with ctx.pool.acquire() as conn:
            yield PostgresSignalsStore(conn)

    return build_router(open_store, poll_s=ctx.settings.signals_stream_poll_s)
