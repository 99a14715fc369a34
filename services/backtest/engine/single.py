"""One backtest run with its trades, positions and equity curve.

It is a one-combination grid run (same decisions, same accounting) plus trade records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.strategy import SignalAction, StrategyParams
from services.backtest.engine.accounting import Costs, holdings, pnl_matrix
from services.backtest.engine.grid import ParamGrid, run_grid
from services.backtest.engine.spreads import SpreadSeries

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class TradeLeg:
    symbol: str
    shares: float  # signed: > 0 long, < 0 short
    entry_price: float
    exit_price: float | None


@dataclass(frozen=True)
class Trade:
    """A round trip; ``exit_*`` are None while the position is still open at the end."""

    direction: int  # +1 long spread, -1 short spread
    entry_decision_time: object
    entry_time: object  # fill bar
    exit_decision_time: object | None
    exit_time: object | None
    reason: str  # exit action (close, stop, time_stop, forced_close) or "open"
    legs: tuple[TradeLeg, TradeLeg]
    pnl: float  # incl. costs on entry and exit fills and borrow while held
    costs: float  # commission + slippage of both fills


@dataclass(frozen=True)
class BacktestRun:
    params: StrategyParams
    times: NDArray[np.generic]
    actions: NDArray[np.int8]  # (T,) decision of each bar (ActionCode)
    positions: NDArray[np.int64]  # (T,) spread position held after the fills of each bar
    shares_a: FloatArray
    shares_b: FloatArray
    pnl: FloatArray  # (T,) per-bar PnL in currency
    returns: FloatArray  # (T,) PnL / capital
    equity: FloatArray  # (T,) capital + cumulative PnL
    trades: list[Trade]


def run_single(
    prices_a: ArrayLike,
    prices_b: ArrayLike,
    times: ArrayLike,
    params: StrategyParams,
    costs: Costs,
    fill: str = "next_close",
    hedge: str = "ols",
    *,
    capital: float = 1.0,
    hedge_ratio: float | None = None,
    spreads: SpreadSeries | None = None,
    tradable: NDArray[np.bool_] | None = None,
    force_close: NDArray[np.bool_] | None = None,
    symbols: tuple[str, str] = ("A", "B"),
) -> BacktestRun:
    """Backtest one parameter set; arguments as :func:`services.backtest.engine.grid.run_grid`."""
    result = run_grid(
        prices_a,
        prices_b,
        times,
        ParamGrid.from_params(params),
        costs,
        fill,
        hedge,
        capital=capital,
        hedge_ratio=hedge_ratio,
        spreads=spreads,
        tradable=tradable,
        force_close=force_close,
    )
    a = np.asarray(prices_a, dtype=np.float64)
    b = np.asarray(prices_b, dtype=np.float64)
    n_bars, fills = len(a), result.fills
    shares_a = holdings(fills.fill_bar, fills.combo, fills.delta_a, n_bars, 1)[:, 0]
    shares_b = holdings(fills.fill_bar, fills.combo, fills.delta_b, n_bars, 1)[:, 0]
    changes = np.zeros(n_bars, dtype=np.int64)
    changes[fills.fill_bar] = fills.delta_position
    pnl = pnl_matrix(fills, 1, a, b, costs)[:, 0]
    cumulative = np.concatenate(([0.0], np.cumsum(pnl)))
    trades_out: list[Trade] = []
    t = np.asarray(times)
    for i in range(0, len(fills.action), 2):
        entry_fill = int(fills.fill_bar[i])
        closed = i + 1 < len(fills.action)
        exit_fill = int(fills.fill_bar[i + 1]) if closed else None
        end = exit_fill + 1 if exit_fill is not None else n_bars
        legs = (
            TradeLeg(
                symbols[0],
                float(fills.delta_a[i]),
                float(a[entry_fill]),
                float(a[exit_fill]) if exit_fill is not None else None,
            ),
            TradeLeg(
                symbols[1],
                float(fills.delta_b[i]),
                float(b[entry_fill]),
                float(b[exit_fill]) if exit_fill is not None else None,
            ),
        )
        trades_out.append(
            Trade(
                direction=int(fills.delta_position[i]),
                entry_decision_time=t[fills.decision_bar[i]],
                entry_time=t[entry_fill],
                exit_decision_time=t[fills.decision_bar[i + 1]] if closed else None,
                exit_time=t[exit_fill] if exit_fill is not None else None,
                reason=SignalAction.from_code(int(fills.action[i + 1])).value if closed else "open",
                legs=legs,
                pnl=float(cumulative[end] - cumulative[entry_fill]),
                costs=float(fills.cost[i] + (fills.cost[i + 1] if closed else 0.0)),
            )
        )
    return BacktestRun(
        params=params,
        times=t,
        actions=result.actions[:, 0],
        positions=np.cumsum(changes),
        shares_a=shares_a,
        shares_b=shares_b,
        pnl=pnl,
        returns=pnl / capital,
        equity=capital + np.cumsum(pnl),
        trades=trades_out,
    )
