"""Wiring of the signals service: settings, routes, tables, state loading and the HTTP API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from pydantic import Field, model_validator

from core.strategy import PairLifecycle, StrategyParams
from services.signals.api import build_router
from services.signals.domain import ParamsBook, SignalEngine, defaults_version
from services.signals.domain.records import EngineSnapshot
from services.signals.handlers import SignalsHandlers
from services.signals.store import PostgresSignalsStore, SignalsStore
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import SIGNALS

MIGRATIONS = Path(__file__).parent / "migrations"


class SignalsSettings(ServiceSettings):
    """TITAN_SIGNALS_*: the default strategy parameters and the service's own knobs."""

    signals_entry_z: float = 2.0
    signals_exit_z: float = 0.5
    signals_stop_z: float = 4.0
    signals_lookback: int = 60
    signals_time_stop_half_lives: float = 3.0
    signals_sizing: Literal["dollar_neutral", "beta_neutral"] = "dollar_neutral"
    # Comma-separated regime numbers or names in which no new position is opened.
    signals_no_trade_regimes: str = ""
    # Lifecycle assumed for a pair whose PairStateChanged has not been seen (or not reached
    # by its spread stream yet): `candidate` opens nothing until the pair is declared active.
    signals_unknown_pair_state: Literal["candidate", "active"] = "candidate"
    # Wait for params.v1's watermark (a backtest service publishes parameter sets and their
    # event time): a spread at t is decided with exactly the sets in force at t. Off: sets
    # apply on arrival (nothing would ever advance params.v1 without a backtest service).
    signals_await_params: bool = False
    # How often GET /signals/stream looks for newly committed signals.
    signals_stream_poll_s: float = Field(default=0.25, gt=0.0, le=60.0)

    @model_validator(mode="after")
    def _params_usable(self) -> SignalsSettings:
        self.default_params()  # raises ValueError with the precise reason
        return self

    def default_params(self) -> StrategyParams:
        params = StrategyParams(
            entry_z=self.signals_entry_z,
            exit_z=self.signals_exit_z,
            stop_z=self.signals_stop_z,
            lookback=self.signals_lookback,
            time_stop_half_lives=self.signals_time_stop_half_lives,
            sizing=self.signals_sizing,
        )
        return replace(params, version=defaults_version(params))

    def no_trade_regimes(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.signals_no_trade_regimes.split(",") if p.strip())


SETTINGS = SignalsSettings


def make_engine(settings: SignalsSettings, snapshot: EngineSnapshot | None) -> SignalEngine:
    book = ParamsBook(settings.default_params(), settings.no_trade_regimes())
    return SignalEngine(
        book,
        unknown_lifecycle=PairLifecycle(settings.signals_unknown_pair_state),
        snapshot=snapshot,
    )


def _settings(ctx: ServiceContext) -> SignalsSettings:
    if not isinstance(ctx.settings, SignalsSettings):
        raise TypeError(f"signals needs SignalsSettings, got {type(ctx.settings).__name__}")
    return ctx.settings


def definition() -> ServiceDefinition:
    holder: dict[str, SignalsHandlers] = {}

    def handlers(ctx: ServiceContext) -> SignalsHandlers:
        if "handlers" not in holder:
            settings = _settings(ctx)
            holder["handlers"] = SignalsHandlers(
                lambda snapshot: make_engine(settings, snapshot),
                PostgresSignalsStore,
                registry=ctx.metrics.registry,
                await_params=settings.signals_await_params,
            )
        return holder["handlers"]

    def routes(ctx: ServiceContext) -> list[Route]:
        return handlers(ctx).routes()

    async def on_start(ctx: ServiceContext) -> None:
        async with ctx.pool.acquire() as conn:
            await handlers(ctx).load(PostgresSignalsStore(conn))

    def api(ctx: ServiceContext) -> APIRouter:
        @asynccontextmanager
        async def open_store() -> AsyncIterator[SignalsStore]:
            async with ctx.pool.acquire() as conn:
                yield PostgresSignalsStore(conn)

        return build_router(open_store, poll_s=_settings(ctx).signals_stream_poll_s)

    return ServiceDefinition(
        name="signals",
        routes=routes,
        migrations=[("signals", MIGRATIONS)],
        api=api,
        on_start=on_start,
        watermark_outputs=lambda _settings: WatermarkOutputs((SIGNALS.name,)),
    )
