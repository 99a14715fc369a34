"""Wiring of the regime service: settings, state, routes, API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator, model_validator

from core.regime import (
    SCOPE_SPECS,
    RefitPolicy,
    RegimeScope,
    ShiftDetectorSettings,
    TrackerConfig,
    min_observations,
)
from services.regime.api import build_router
from services.regime.fit_pool import workers_for
from services.regime.handlers import RegimeConfig, RegimeService
from services.regime.store import PostgresRegimeStore, RegimeStore
from shared.events.market import INTERVAL_SECONDS, SYMBOL_PATTERN
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.inputs import bar_order, bars_decoder
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import MARKET_BARS, PAIRS_SPREADS, REGIME_SHIFTS


class RegimeSettings(ServiceSettings):
    regime_bar_interval: str = "1d"
    # Empty: the market series is the equal-weighted return of the universe.
    regime_benchmark_symbol: str = ""
    # Comma-separated fixed universe; empty: every symbol seen on market.bars.v1 joins.
    regime_universe: str = ""
    # Pending bar times a lagging symbol may hold the clock back before it is dropped.
    regime_stale_after_bars: int = Field(default=50, ge=1)
    # 5 bars = weekly on daily bars; 1000 bars = four years of daily returns.
    regime_refit_every_bars: int = Field(default=5, ge=1)
    regime_window_bars: int = Field(default=1000, ge=2)
    regime_min_bars: int = Field(default=250, ge=1)
    regime_shift_threshold: float = Field(default=0.8, ge=0.5, lt=1.0)
    regime_shift_min_bars: int = Field(default=3, ge=1)
    # Processes that fit the pair scopes of a batch in parallel: -1 one per core, 0 none
    # (fits in the service's process, one scope after the other).
    regime_fit_workers: int = Field(default=0, ge=-1, le=64)

    @field_validator("regime_bar_interval")
    @classmethod
    def _interval(cls, value: str) -> str:
        if value not in INTERVAL_SECONDS:
            raise ValueError(f"must be one of {list(INTERVAL_SECONDS)}, got {value!r}")
        return value

    @field_validator("regime_benchmark_symbol", "regime_universe")
    @classmethod
    def _symbols(cls, value: str) -> str:
        bad = [s for s in _split(value) if not SYMBOL_PATTERN.match(s)]
        if bad:
            raise ValueError(f"malformed symbols: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _windows(self) -> RegimeSettings:
        need = max(min_observations(spec) for spec in SCOPE_SPECS.values())
        if self.regime_min_bars < need:
            raise ValueError(f"TITAN_REGIME_MIN_BARS must be >= {need} to fit a model")
        if self.regime_window_bars < self.regime_min_bars:
            raise ValueError("TITAN_REGIME_WINDOW_BARS must be >= TITAN_REGIME_MIN_BARS")
        return self

    def regime_config(self) -> RegimeConfig:
        refit = RefitPolicy(
            every_bars=self.regime_refit_every_bars,
            window_bars=self.regime_window_bars,
            min_bars=self.regime_min_bars,
        )
        shifts = ShiftDetectorSettings(
            threshold=self.regime_shift_threshold, min_bars=self.regime_shift_min_bars
        )
        universe = tuple(_split(self.regime_universe)) or None
        return RegimeConfig(
            bar_interval=self.regime_bar_interval,
            market=TrackerConfig(
                RegimeScope.MARKET, SCOPE_SPECS[RegimeScope.MARKET], refit, shifts
            ),
            pair=TrackerConfig(
                RegimeScope.PAIR_SPREAD, SCOPE_SPECS[RegimeScope.PAIR_SPREAD], refit, shifts
            ),
            benchmark=self.regime_benchmark_symbol or None,
            universe=universe,
            stale_after=self.regime_stale_after_bars,
            fit_workers=workers_for(self.regime_fit_workers),
        )


def _split(value: str) -> list[str]:
    return [s.strip() for s in value.split(",") if s.strip()]


SETTINGS = RegimeSettings


def definition(store: RegimeStore | None = None) -> ServiceDefinition:
    regime_store = store or PostgresRegimeStore()
    holder: dict[str, RegimeService] = {}

    def service(ctx: ServiceContext) -> RegimeService:
        if "svc" not in holder:
            settings = ctx.settings
            assert isinstance(settings, RegimeSettings)
            holder["svc"] = RegimeService(regime_store, settings.regime_config())
        return holder["svc"]

    def routes(ctx: ServiceContext) -> list[Route]:
        return regime_routes(service(ctx))

    async def on_start(ctx: ServiceContext) -> None:
        async with ctx.pool.acquire() as conn:
            await service(ctx).load(conn)

    return ServiceDefinition(
        name="regime",
        routes=routes,
        migrations=[("regime", Path(__file__).parent / "migrations")],
        api=lambda ctx: build_router(ctx, regime_store),
        on_start=on_start,
        watermark_outputs=_outputs,
    )


def regime_routes(svc: RegimeService) -> list[Route]:
    """Bars wait for every bars partition to pass their time (the market series is a
    cross-section); spreads need no join (each pair's series is one partition's order) but
    their watermark gates the output's: pair-scope shifts come from them."""
    return [
        Route(
            MARKET_BARS.name,
            svc.handle_bars,
            decode=bars_decoder(svc.config.bar_interval),
            aligned=bar_order,
        ),
        Route(PAIRS_SPREADS.name, svc.handle_spreads, gates_watermark=True),
    ]


def _outputs(settings: ServiceSettings) -> WatermarkOutputs:
    """Shifts are stamped with a bar's start, one interval before the bar's event time."""
    assert isinstance(settings, RegimeSettings)
    width = timedelta(seconds=INTERVAL_SECONDS[settings.regime_bar_interval])
    return WatermarkOutputs((REGIME_SHIFTS.name,), delay=width)
