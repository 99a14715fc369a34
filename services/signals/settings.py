"""TITAN_SIGNALS_*: the default strategy parameters and the service's own knobs."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field, model_validator

from core.strategy import StrategyParams
from services.signals.domain import defaults_version
from shared.settings import ServiceSettings


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
