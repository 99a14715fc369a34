"""The trading cost model shared by the pair backtest and the portfolio book."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Costs:
    """Trading costs; bps = 1e-4. Commission and slippage apply per leg on traded notional."""

    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    borrow_bps_annual: float = 0.0
    bars_per_year: float = 252.0

    def __post_init__(self) -> None:
        for name in ("commission_bps", "slippage_bps", "borrow_bps_annual"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")
        if not (math.isfinite(self.bars_per_year) and self.bars_per_year > 0):
            raise ValueError(f"bars_per_year must be finite and > 0, got {self.bars_per_year}")

    @property
    def trade_rate(self) -> float:
        return (self.commission_bps + self.slippage_bps) * 1e-4

    @property
    def borrow_rate_per_bar(self) -> float:
        return self.borrow_bps_annual * 1e-4 / self.bars_per_year
