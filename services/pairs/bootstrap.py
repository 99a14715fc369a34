"""Wiring of the pairs service: settings, routes, start-up state, background job, HTTP API."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from pydantic import Field, field_validator

from services.pairs.domain.lifecycle import LifecycleSettings
from services.pairs.domain.pipeline import PipelineConfig
from services.pairs.domain.screening import ScreenSettings
from services.pairs.domain.spread import SpreadSettings
from services.pairs.domain.universe import UniverseConfig
from services.pairs.handlers import PairsApp, bars_of
from services.pairs.store import PgPairsStore
from shared.events.market import INTERVAL_SECONDS
from shared.runtime.batch import BatchContext, Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.inputs import bar_order, bars_decoder
from shared.runtime.records import Emitted
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import MARKET_BARS, PAIRS_LIFECYCLE, PAIRS_SPREADS, PAIRS_TESTS

log = logging.getLogger(__name__)
APP_KEY = "pairs_app"


class PairsSettings(ServiceSettings):
    pairs_interval: Literal["1m", "1h", "1d"] = "1d"
    # Comma-separated symbols; empty = every symbol seen joins (then determinism across
    # partition interleavings needs every symbol's first bar before the first complete time).
    pairs_universe: str = ""
    pairs_window: int = Field(default=252, ge=30, le=5000)
    pairs_rescreen_every: int = Field(default=21, ge=1)
    pairs_autolag: Literal["aic", "bic", "t-stat", "none"] = "aic"
    pairs_maxlag: int | None = Field(default=None, ge=0)
    pairs_stale_after: int = Field(default=500, ge=1)
    pairs_max_ffill: int = Field(default=5, ge=0)
    pairs_alpha: float = Field(default=0.05, gt=0.0, le=1.0)
    pairs_alpha_degrade: float = Field(default=0.20, gt=0.0, le=1.0)
    pairs_half_life_min: float = Field(default=1.0, gt=0.0)
    pairs_half_life_max: float = Field(default=60.0, gt=0.0)
    pairs_half_life_blowup: float = Field(default=120.0, gt=0.0)
    pairs_hurst_max: float = Field(default=0.5, gt=0.0, le=1.0)
    pairs_confirm_screens: int = Field(default=2, ge=1)
    pairs_degrade_screens: int = Field(default=2, ge=1)
    pairs_retire_screens: int = Field(default=3, ge=1)
    pairs_zscore_lookback: int = Field(default=60, ge=2)
    pairs_kalman_delta: float = Field(default=1e-4, gt=0.0, lt=1.0)
    pairs_kalman_obs_var: float = Field(default=1e-3, gt=0.0)
    # Idle poll for screen requests when no bars flow (a busy stream picks them up per batch).
    pairs_request_poll_s: float = Field(default=1.0, gt=0.0, le=60.0)

    @field_validator("pairs_universe")
    @classmethod
    def _universe(cls, value: str) -> str:
        symbols = [s.strip() for s in value.split(",") if s.strip()]
        if len(set(symbols)) != len(symbols):
            raise ValueError("duplicate symbols in the universe")
        return ",".join(symbols)

    def pipeline_config(self) -> PipelineConfig:
        symbols = tuple(s for s in self.pairs_universe.split(",") if s)
        keep = max(self.pairs_window + self.pairs_max_ffill + 1, self.pairs_stale_after + 1)
        return PipelineConfig(
            interval=self.pairs_interval,
            universe=UniverseConfig(symbols, self.pairs_stale_after, self.pairs_max_ffill, keep),
            screen=ScreenSettings(
                self.pairs_window,
                self.pairs_rescreen_every,
                None if self.pairs_autolag == "none" else self.pairs_autolag,
                self.pairs_maxlag,
            ),
            lifecycle=LifecycleSettings(
                self.pairs_alpha,
                self.pairs_alpha_degrade,
                self.pairs_half_life_min,
                self.pairs_half_life_max,
                self.pairs_half_life_blowup,
                self.pairs_hurst_max,
                self.pairs_confirm_screens,
                self.pairs_degrade_screens,
                self.pairs_retire_screens,
            ),
            spread=SpreadSettings(
                self.pairs_zscore_lookback, self.pairs_kalman_delta, self.pairs_kalman_obs_var
            ),
        )


SETTINGS = PairsSettings


def _app(ctx: ServiceContext) -> PairsApp:
    app = ctx.extras.get(APP_KEY)
    if app is None:
        assert isinstance(ctx.settings, PairsSettings)
        app = ctx.extras[APP_KEY] = PairsApp(ctx.settings.pipeline_config())
    assert isinstance(app, PairsApp)
    return app


def _routes(ctx: ServiceContext) -> list[Route]:
    app = _app(ctx)

    async def handle_bars(items: list[object], bctx: BatchContext) -> None:
        bars = bars_of(items, app.config.interval)  # type: ignore[arg-type]
        async with app.lock:
            await app.step(
                PgPairsStore(bctx.conn),
                bars,
                bctx.emit,
                producer=bctx.producer_name,
                clock=bctx.clock,
                # released by event time: every input has passed these bars (rule 7)
                complete_through=max((b.bar_time for b in bars), default=None),
            )

    return [
        Route(
            topic=MARKET_BARS.name,
            handle=handle_bars,
            decode=bars_decoder(app.config.interval),
            aligned=bar_order,
        )
    ]


async def _on_start(ctx: ServiceContext) -> None:
    app = _app(ctx)
    async with app.lock, ctx.pool.acquire() as conn:
        await app.load(PgPairsStore(conn))


async def screen_request_job(ctx: ServiceContext) -> None:
    """Process recorded screen requests while no batch does (e.g. the stream is idle)."""
    app = _app(ctx)
    assert isinstance(ctx.settings, PairsSettings)
    period = ctx.settings.pairs_request_poll_s
    producer = f"titan-{ctx.name}"
    while True:
        await asyncio.sleep(period)
        if app.stepped_within(ctx.clock.now(), timedelta(seconds=period)):
            continue  # bars flow: the batches process the requests
        try:
            await _process_requests(ctx, app, producer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("screen request processing failed; reloading state")
            async with app.lock, ctx.pool.acquire() as conn:
                await app.load(PgPairsStore(conn))


async def _process_requests(ctx: ServiceContext, app: PairsApp, producer: str) -> None:
    async with app.lock, ctx.pool.acquire() as conn:
        store = PgPairsStore(conn)
        if not await store.pending_requests(app.config.interval):
            return
        emitted = Emitted()
        async with conn.transaction():
            batch_no = await ctx.store.next_batch_no(conn)
            await app.step(
                store,
                [],
                lambda topic, env: emitted.event(ctx.topics.real(topic), env),
                producer=producer,
                clock=ctx.clock,
            )
            await ctx.store.write_outbox(conn, batch_no, emitted.records)
    await ctx.publisher.publish_batch(batch_no, emitted.records)


def _api(ctx: ServiceContext) -> APIRouter:
    from services.pairs.api import build_router

    return build_router(ctx, _app(ctx))


def definition() -> ServiceDefinition:
    return ServiceDefinition(
        name="pairs",
        routes=_routes,
        migrations=[("pairs", Path(__file__).parent / "migrations")],
        api=_api,
        on_start=_on_start,
        background=[screen_request_job],
        watermark_outputs=lambda settings: WatermarkOutputs(
            (PAIRS_TESTS.name, PAIRS_LIFECYCLE.name, PAIRS_SPREADS.name),
            delay=_interval_width(settings),
        ),
    )


def _interval_width(settings: ServiceSettings) -> timedelta:
    assert isinstance(settings, PairsSettings)
    return timedelta(seconds=INTERVAL_SECONDS[settings.pairs_interval])
