"""TITAN_PAIRS_*: the pairs service's settings and the pipeline configuration they give."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from services.pairs.domain.lifecycle import LifecycleSettings
from services.pairs.domain.pipeline import PipelineConfig
from services.pairs.domain.screening import ScreenSettings
from services.pairs.domain.spread import SpreadSettings
from services.pairs.domain.universe import UniverseConfig
from shared.settings import ServiceSettings


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
    # Worker processes a screen's pair space is sharded over (bit-identical results);
    # 0: screens run in-process, -1: one worker per core.
    pairs_screen_workers: int = Field(default=0, ge=-1, le=64)
    # Blocks a screen's pair space is cut into and shared among the service's replicas
    # (screen_grid.py; bit-identical results); 0: each screen stays in its replica.
    pairs_screen_grid_blocks: int = Field(default=0, ge=0, le=256)
    # Screens smaller than this stay in the owner (a block's round trips cost more).
    pairs_screen_grid_min_pairs: int = Field(default=10_000, ge=0)
    # A claimed block whose replica has not written it back by then is claimed again.
    pairs_screen_grid_lease_s: float = Field(default=60.0, gt=0.0, le=3600.0)
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
