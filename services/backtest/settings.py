"""TITAN_BACKTEST_*: the backtest service's settings."""

from __future__ import annotations

import json
from datetime import timedelta

from pydantic import Field, field_validator

from services.backtest.domain.jobs import RecoveryPolicy
from services.backtest.domain.requests import KNOWN_OPTIONS, RequestInvalid, parse_walk_forward
from services.backtest.jobs import RunnerSettings
from shared.settings import ServiceSettings


class BacktestSettings(ServiceSettings):
    # 2 cores on the target machine: one worker leaves a core for the consumer and the API.
    backtest_workers: int = Field(default=1, ge=1, le=2)
    backtest_max_attempts: int = Field(default=3, ge=1, le=20)
    # A running job whose heartbeat is older than this lost its runner and is re-queued.
    backtest_lease_s: float = Field(default=60.0, gt=0.0)
    backtest_heartbeat_s: float = Field(default=2.0, gt=0.0)
    backtest_poll_interval_s: float = Field(default=1.0, gt=0.0)
    backtest_history_retry_s: float = Field(default=10.0, ge=0.0)
    market_data_url: str | None = None
    backtest_lifecycle_commission_bps: float = Field(default=1.0, ge=0.0)
    backtest_lifecycle_slippage_bps: float = Field(default=2.0, ge=0.0)
    # Walk-forward options (JSON object, as in a request's `options`) for the walk-forward
    # an activation starts, e.g. '{"regimes": "none", "min_oos_trades": 5}'; checked here.
    backtest_lifecycle_options: str = "{}"

    @field_validator("backtest_lifecycle_options")
    @classmethod
    def _lifecycle_options(cls, value: str) -> str:
        try:
            options = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(options, dict):
            raise ValueError("must be a JSON object of walk-forward options")
        unknown = sorted(set(options) - set(KNOWN_OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}")
        try:
            parse_walk_forward(options)
        except RequestInvalid as exc:
            raise ValueError(str(exc)) from None
        return value

    def runner_settings(self) -> RunnerSettings:
        return RunnerSettings(
            RecoveryPolicy(timedelta(seconds=self.backtest_lease_s), self.backtest_max_attempts),
            self.backtest_poll_interval_s,
            self.backtest_heartbeat_s,
            self.backtest_history_retry_s,
        )

    def lifecycle_costs(self) -> dict[str, float]:
        return {
            "commission_bps": self.backtest_lifecycle_commission_bps,
            "slippage_bps": self.backtest_lifecycle_slippage_bps,
        }
