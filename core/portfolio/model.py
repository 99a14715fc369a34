"""Value types of the portfolio book: configuration, pair signals, orders, fills and marks."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core.portfolio.costs import Costs

Allocation = Literal["equal", "inverse_vol", "vol_target"]
ALLOCATIONS: tuple[str, ...] = ("equal", "inverse_vol", "vol_target")
ENTRY_ACTIONS = frozenset({"open_long_spread", "open_short_spread"})
EXIT_ACTIONS = frozenset({"close", "stop", "time_stop", "forced_close"})
LIFECYCLE_STATES = frozenset({"candidate", "active", "degraded", "retired"})
Side = Literal["buy", "sell"]


def _fraction_or_none(name: str, value: float | None, *, upper: float | None = None) -> None:
    if value is None:
        return
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0 (or None for no limit), got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value}")


@dataclass(frozen=True)
class PortfolioConfig:
    """Capital, allocation and risk limits of one portfolio.

    Notional is sized from ``capital`` (as the pair backtest sizes its positions) under
    ``gross_leverage_cap``; the risk limits are fractions of the current equity. ``None``
    switches a limit off, except ``max_gross_exposure`` whose None is the leverage cap.
    """

    portfolio_id: str = "default"
    capital: float = 1_000_000.0
    allocation: Allocation = "equal"
    vol_lookback: int = 60
    target_vol_annual: float = 0.10
    bars_per_year: float = 252.0
    gross_leverage_cap: float = 2.0
    max_gross_exposure: float | None = None  # the gross limit; None: gross_leverage_cap
    max_net_exposure: float | None = None
    max_symbol_exposure: float | None = None
    max_pairs: int | None = None
    drawdown_kill: float | None = None
    costs: Costs = field(default_factory=Costs)

    def __post_init__(self) -> None:
        if not self.portfolio_id or len(self.portfolio_id) > 128:
            raise ValueError(f"portfolio_id must be 1-128 characters, got {self.portfolio_id!r}")
        if not (math.isfinite(self.capital) and self.capital > 0):
            raise ValueError(f"capital must be finite and > 0, got {self.capital}")
        if self.allocation not in ALLOCATIONS:
            raise ValueError(f"allocation must be one of {ALLOCATIONS}, got {self.allocation!r}")
        if isinstance(self.vol_lookback, bool) or not isinstance(self.vol_lookback, int):
            raise ValueError(f"vol_lookback must be an int, got {self.vol_lookback!r}")
        if self.vol_lookback < 2:
            raise ValueError(f"vol_lookback must be >= 2 bars, got {self.vol_lookback}")
        for name in ("target_vol_annual", "bars_per_year", "gross_leverage_cap"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value}")
        _fraction_or_none("max_gross_exposure", self.max_gross_exposure)
        _fraction_or_none("max_net_exposure", self.max_net_exposure)
        _fraction_or_none("max_symbol_exposure", self.max_symbol_exposure)
        _fraction_or_none("drawdown_kill", self.drawdown_kill, upper=1.0)
        if self.max_pairs is not None and (
            isinstance(self.max_pairs, bool)
            or not isinstance(self.max_pairs, int)
            or self.max_pairs < 1
        ):
            raise ValueError(f"max_pairs must be an int >= 1 (or None), got {self.max_pairs!r}")
        if not isinstance(self.costs, Costs):
            raise ValueError(f"costs must be a Costs, got {type(self.costs).__name__}")

    @property
    def gross_limit(self) -> float:
        return (
            self.gross_leverage_cap if self.max_gross_exposure is None else self.max_gross_exposure
        )


@dataclass(frozen=True)
class LegWeight:
    symbol: str
    side: Side
    weight: float  # share of the pair's gross notional, >= 0

    def __post_init__(self) -> None:
        if not self.symbol:
            raise ValueError("a leg needs a symbol")
        if self.side not in ("buy", "sell"):
            raise ValueError(f"leg side must be 'buy' or 'sell', got {self.side!r}")
        if not (math.isfinite(self.weight) and self.weight >= 0):
            raise ValueError(f"leg weight must be finite and >= 0, got {self.weight}")

    @property
    def sign(self) -> float:
        return 1.0 if self.side == "buy" else -1.0


@dataclass(frozen=True)
class PairSignal:
    """A strategy decision for one pair (mirrors SignalEmitted on signals.v1)."""

    signal_id: str
    pair_id: str
    action: str
    bar_time: datetime
    hedge_ratio: float
    legs: tuple[LegWeight, ...]

    def __post_init__(self) -> None:
        if self.action not in ENTRY_ACTIONS | EXIT_ACTIONS:
            raise ValueError(f"unknown signal action {self.action!r}")
        if self.bar_time.tzinfo is None:
            raise ValueError(f"bar_time must be timezone-aware, got {self.bar_time!r}")
        if not self.pair_id or not self.signal_id:
            raise ValueError("a signal needs a signal_id and a pair_id")
        if self.is_entry:
            if not math.isfinite(self.hedge_ratio):
                raise ValueError(f"hedge_ratio of an entry must be finite, got {self.hedge_ratio}")
            symbols = [leg.symbol for leg in self.legs]
            if not symbols or len(set(symbols)) != len(symbols):
                raise ValueError(f"an entry needs legs on distinct symbols, got {symbols}")
            if not sum(leg.weight for leg in self.legs) > 0:
                raise ValueError("an entry's leg weights must not all be 0")

    @property
    def is_entry(self) -> bool:
        return self.action in ENTRY_ACTIONS

    @property
    def direction(self) -> int:
        return {"open_long_spread": 1, "open_short_spread": -1}.get(self.action, 0)


def order_id(portfolio_id: str, decided_at: datetime, symbol: str) -> str:
    """One order per portfolio, decision bar and symbol: a replay derives the same id."""
    key = f"{portfolio_id}|{decided_at.isoformat()}|{symbol}".encode()
    return "ord-" + hashlib.sha256(key).hexdigest()[:32]


@dataclass(frozen=True)
class PlannedOrder:
    order_id: str
    symbol: str
    side: Side
    quantity: float  # shares, > 0
    decided_at: datetime
    reference_price: float
    target_position: float  # signed shares of the symbol once filled
    contributions: tuple[tuple[str, float], ...]  # (pair_id, signed shares), sum = order
    reason: str


@dataclass(frozen=True)
class RejectedOrder:
    """The order a symbol would have had if no risk rule had stopped an entry."""

    order_id: str
    symbol: str
    side: Side
    quantity: float
    decided_at: datetime
    reference_price: float
    reason: str


@dataclass(frozen=True)
class FillRecord:
    order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float
    cost: float  # commission + slippage
    filled_at: datetime


@dataclass(frozen=True)
class SymbolMark:
    symbol: str
    quantity: float
    price: float
    market_value: float


@dataclass(frozen=True)
class PairMark:
    pair_id: str
    position: int  # +1 long spread, -1 short spread, 0 flat (what is held, after fills)
    pnl: float  # this bar, net of the pair's share of costs and borrow
    cumulative_pnl: float


@dataclass(frozen=True)
class PortfolioMark:
    bar_time: datetime
    equity: float
    cash: float
    pnl: float  # this bar, net of costs: equity - previous equity
    gross_exposure: float
    net_exposure: float
    drawdown: float  # fraction below the equity peak, in [0, 1]
    kill_switch: bool
    kill_reason: str | None
    positions: tuple[SymbolMark, ...]
    pairs: tuple[PairMark, ...]
    costs: float  # commission + slippage + borrow charged this bar


@dataclass(frozen=True)
class BarOutcome:
    orders: list[PlannedOrder]
    rejections: list[RejectedOrder]
    fills: list[FillRecord]
    mark: PortfolioMark
    # Pair-leg orders netting saved: per symbol whose pair shares change, the pairs that
    # move it minus the orders sent for it (1, or 0 for an internal cross).
    netted_legs: int = 0
