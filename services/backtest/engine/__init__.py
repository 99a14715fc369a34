"""Vectorised backtest engine of the pair strategy (same decision rule as live signals)."""

from services.backtest.engine.accounting import Costs
from services.backtest.engine.grid import GridResult, ParamGrid, run_grid
from services.backtest.engine.single import BacktestRun, Trade, TradeLeg, run_single
from services.backtest.engine.spreads import SpreadSeries, compute_spread_series

__all__ = [
    "BacktestRun",
    "Costs",
    "GridResult",
    "ParamGrid",
    "SpreadSeries",
    "Trade",
    "TradeLeg",
    "compute_spread_series",
    "run_grid",
    "run_single",
]
