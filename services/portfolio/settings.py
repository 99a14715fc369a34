"""TITAN_PORTFOLIO_*: the portfolio's capital, allocation, risk limits and costs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from core.portfolio import Costs, PortfolioConfig
from shared.settings import ServiceSettings


class PortfolioSettings(ServiceSettings):
    """Typed settings; `portfolio_config()` gives the domain's config (validated again there)."""

    portfolio_interval: Literal["1m", "1h", "1d"] = "1d"
    portfolio_id: str = Field(default="default", min_length=1, max_length=128)
    portfolio_capital: float = Field(default=1_000_000.0, gt=0.0, allow_inf_nan=False)
    portfolio_allocation: Literal["equal", "inverse_vol", "vol_target"] = "equal"
    portfolio_vol_lookback: int = Field(default=60, ge=2, le=5000)
    portfolio_target_vol_annual: float = Field(default=0.10, gt=0.0, allow_inf_nan=False)
    portfolio_bars_per_year: float = Field(default=252.0, gt=0.0, allow_inf_nan=False)
    portfolio_gross_leverage_cap: float = Field(default=2.0, gt=0.0, allow_inf_nan=False)
    # Risk limits, fractions of equity (unset: no limit; gross: the leverage cap).
    portfolio_max_gross_exposure: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    portfolio_max_net_exposure: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    portfolio_max_symbol_exposure: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    portfolio_max_pairs: int | None = Field(default=None, ge=1, le=10_000)
    portfolio_drawdown_kill: float | None = Field(default=None, gt=0.0, le=1.0, allow_inf_nan=False)
    portfolio_commission_bps: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    portfolio_slippage_bps: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    portfolio_borrow_bps_annual: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _domain_accepts(self) -> PortfolioSettings:
        # The domain's own checks (e.g. cross-field ones) fail at start-up, with its message.
        self.portfolio_config()
        return self

    def portfolio_config(self) -> PortfolioConfig:
        return PortfolioConfig(
            portfolio_id=self.portfolio_id,
            capital=self.portfolio_capital,
            allocation=self.portfolio_allocation,
            vol_lookback=self.portfolio_vol_lookback,
            target_vol_annual=self.portfolio_target_vol_annual,
            bars_per_year=self.portfolio_bars_per_year,
            gross_leverage_cap=self.portfolio_gross_leverage_cap,
            max_gross_exposure=self.portfolio_max_gross_exposure,
            max_net_exposure=self.portfolio_max_net_exposure,
            max_symbol_exposure=self.portfolio_max_symbol_exposure,
            max_pairs=self.portfolio_max_pairs,
            drawdown_kill=self.portfolio_drawdown_kill,
            costs=Costs(
                commission_bps=self.portfolio_commission_bps,
                slippage_bps=self.portfolio_slippage_bps,
                borrow_bps_annual=self.portfolio_borrow_bps_annual,
                bars_per_year=self.portfolio_bars_per_year,
            ),
        )
