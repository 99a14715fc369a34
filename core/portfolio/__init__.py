"""Portfolio of pairs: allocation, netting, risk limits, paper fills and PnL (pure code).

The one `PortfolioBook` runs in the live portfolio service and in `run_portfolio_backtest`.
See core/portfolio/book.py for the order of a bar's steps and the attribution rules.

Interface notes for the portfolio service (changes to prompts/port_interface.md):
- PortfolioConfig: notional is sized from `capital` (as the pair backtest does); the limits
  `max_net_exposure`, `max_symbol_exposure`, `max_pairs`, `drawdown_kill` default to None
  (off); the gross limit is `max_gross_exposure` (fraction of equity; None, the default,
  means `gross_leverage_cap`).
- PortfolioMark also has `kill_reason` (str | None) and `costs` (commission + slippage +
  borrow charged this bar); FillRecord also has `filled_at`.
- RejectedOrder also has `reference_price`; its order_id is the id the symbol's order would
  have had at that bar.
- BarOutcome.netted_legs (int): pair-leg orders netting saved at the bar.
- run_portfolio_backtest(...) -> PortfolioBacktest (outcomes: list[BarOutcome], equity,
  pair_pnl, orders, fills, total_return, sharpe, max_drawdown, netted_legs).
- A change whose pair contributions cancel exactly is an internal cross: no PlannedOrder.
"""

from core.portfolio.backtest import PortfolioBacktest, run_portfolio_backtest
from core.portfolio.book import PortfolioBook
from core.portfolio.costs import Costs
from core.portfolio.model import (
    ALLOCATIONS,
    BarOutcome,
    FillRecord,
    LegWeight,
    PairMark,
    PairSignal,
    PlannedOrder,
    PortfolioConfig,
    PortfolioMark,
    RejectedOrder,
    SymbolMark,
    order_id,
)
from core.portfolio.state import BookState

__all__ = [
    "ALLOCATIONS",
    "BarOutcome",
    "BookState",
    "Costs",
    "FillRecord",
    "LegWeight",
    "PairMark",
    "PairSignal",
    "PlannedOrder",
    "PortfolioBacktest",
    "PortfolioBook",
    "PortfolioConfig",
    "PortfolioMark",
    "RejectedOrder",
    "SymbolMark",
    "order_id",
    "run_portfolio_backtest",
]
