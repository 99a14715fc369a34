"""Portfolio events: OrderPlanned (portfolio.orders.v1) and PositionsMarked
(portfolio.positions.v1), published by the portfolio service.

An order is a per-symbol target delta decided at the close of `decided_at` (after netting
every active pair's legs and applying the risk limits); paper trading fills it at the next
bar's close. Order ids are deterministic (derived from the portfolio, the decision bar and
the symbol), so a replay or a retry never makes a second order; an execution adapter derives
the broker's client order id from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.envelope import Payload

OrderSide = Literal["buy", "sell"]


class PairContribution(BaseModel):
    """One pair's share of a symbol's order (signed shares; netting sums them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    pair_id: str
    quantity: float = Field(allow_inf_nan=False)


class OrderPlanned(Payload):
    EVENT_TYPE = "OrderPlanned"

    order_id: str = Field(min_length=1, max_length=128)
    portfolio: str = Field(min_length=1, max_length=128)
    symbol: str = Field(min_length=1, max_length=32)
    side: OrderSide
    quantity: float = Field(gt=0.0, allow_inf_nan=False)  # shares, always positive
    decided_at: datetime  # the bar whose close decided it; fills at the next bar
    reference_price: float = Field(gt=0.0, allow_inf_nan=False)
    target_position: float = Field(allow_inf_nan=False)  # signed shares after the fill
    contributions: list[PairContribution] = Field(default_factory=list)
    # Why: the signals that moved the targets, and any risk limit that scaled the order
    # (orders a limit rejects outright are not published: the service records them).
    reason: str = Field(min_length=1, max_length=2000)


class SymbolPosition(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    symbol: str
    quantity: float = Field(allow_inf_nan=False)  # signed shares
    price: float = Field(gt=0.0, allow_inf_nan=False)  # the mark (close of bar_time)
    market_value: float = Field(allow_inf_nan=False)


class PairPnl(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    pair_id: str
    position: int  # +1 long spread, -1 short spread, 0 flat
    pnl: float = Field(allow_inf_nan=False)  # this bar
    cumulative_pnl: float = Field(allow_inf_nan=False)


class Fill(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: str
    symbol: str
    side: OrderSide
    quantity: float = Field(gt=0.0, allow_inf_nan=False)
    price: float = Field(gt=0.0, allow_inf_nan=False)
    cost: float = Field(ge=0.0, allow_inf_nan=False)  # commission + slippage


class PositionsMarked(Payload):
    """The portfolio marked at the close of `bar_time`, after that bar's fills."""

    EVENT_TYPE = "PositionsMarked"

    portfolio: str
    bar_time: datetime
    equity: float = Field(allow_inf_nan=False)
    cash: float = Field(allow_inf_nan=False)
    pnl: float = Field(allow_inf_nan=False)  # this bar, net of costs
    gross_exposure: float = Field(ge=0.0, allow_inf_nan=False)
    net_exposure: float = Field(allow_inf_nan=False)
    drawdown: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    kill_switch: bool = False
    # Why new entries are blocked (the limit that tripped), while the kill-switch holds.
    kill_reason: str | None = Field(default=None, max_length=2000)
    costs: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)  # commission, slippage, borrow
    # Pair-leg orders that netting saved among this bar's decisions: for each symbol whose
    # pairs' shares change, the pairs changing it minus the orders sent (1, or 0 when the
    # changes cancel: an internal cross).
    netted_legs: int = Field(default=0, ge=0)
    positions: list[SymbolPosition] = Field(default_factory=list)
    pairs: list[PairPnl] = Field(default_factory=list)
    fills: list[Fill] = Field(default_factory=list)
