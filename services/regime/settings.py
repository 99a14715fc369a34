"""TITAN_REGIME_*: the regime service's settings and the configuration they give."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from core.regime import (
    SCOPE_SPECS,
    RefitPolicy,
    RegimeScope,
    ShiftDetectorSettings,
    TrackerConfig,
    min_observations,
)
from services.regime.handlers import RegimeConfig
from shared.events.market import INTERVAL_SECONDS, SYMBOL_PATTERN
from shared.runtime.process_pool import workers_for
from shared.settings import ServiceSettings


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
