"""Trade-level statistics of a grid of backtests, vectorised over columns (combos).

Alignment convention: `positions[t, c]` is the position HELD OVER bar t, i.e. the one that
earns `returns[t, c]`. A trade is a maximal run of bars with a non-zero position of one sign;
a direct flip from long to short closes one trade and opens another.

Without positions, a bar is taken as "in the market" when its return is non-zero (a flat
pairs book earns exactly zero). That inference cannot see a direct flip (two trades merge)
nor a held position whose bar return is exactly zero; pass positions for exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TradeStats:
    n_trades: FloatArray
    win_rate: FloatArray
    profit_factor: FloatArray
    exposure: FloatArray
    avg_holding_bars: FloatArray
    turnover: FloatArray


def _zero_nan(values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(arr), 0.0, arr)


def trade_entries(returns: FloatArray, positions: FloatArray | None) -> tuple[BoolArray, BoolArray]:
    """(in_market, entry) boolean matrices, same shape as `returns`."""
    if positions is None:
        in_market = np.where(np.isnan(returns), 0.0, returns) != 0.0
        previous = np.vstack([np.zeros((1, in_market.shape[1]), dtype=bool), in_market[:-1]])
        return in_market, in_market & ~previous
    pos = _zero_nan(positions)
    side = np.sign(pos)
    prev_side = np.vstack([np.zeros((1, pos.shape[1])), side[:-1]])
    in_market = side != 0
    return in_market, in_market & (side != prev_side)


def trade_stats(
    returns: FloatArray,
    positions: FloatArray | None,
    periods_per_year: float,
) -> TradeStats:
    """Per-trade win rate and profit factor, exposure, holding period and turnover."""
    n_bars, n_cols = returns.shape
    in_market, entries = trade_entries(returns, positions)
    n_trades = entries.sum(axis=0)
    bars_in_market = in_market.sum(axis=0)

    # Global trade ids in column-major order, so one bincount covers every column.
    entries_t = entries.T
    trade_id = np.cumsum(entries_t.ravel()).reshape(entries_t.shape)
    in_market_t = in_market.T
    total_trades = int(n_trades.sum())
    growth = np.log1p(np.clip(np.where(np.isnan(returns), 0.0, returns), -1.0, None)).T
    log_pnl = np.bincount(
        trade_id[in_market_t], weights=growth[in_market_t], minlength=total_trades + 1
    )[1:]
    trade_pnl = np.expm1(log_pnl)
    trade_col = np.repeat(np.arange(n_cols), n_trades)
    wins = np.bincount(trade_col, weights=trade_pnl > 0, minlength=n_cols)
    gross_profit = np.bincount(
        trade_col, weights=np.where(trade_pnl > 0, trade_pnl, 0.0), minlength=n_cols
    )
    gross_loss = np.bincount(
        trade_col, weights=np.where(trade_pnl < 0, -trade_pnl, 0.0), minlength=n_cols
    )

    years = n_bars / periods_per_year
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(n_trades > 0, wins / n_trades, np.nan)
        profit_factor = np.where(
            n_trades == 0,
            np.nan,
            np.where(
                gross_loss > 0,
                gross_profit / gross_loss,
                np.where(gross_profit > 0, np.inf, np.nan),
            ),
        )
        exposure = bars_in_market / n_bars if n_bars else np.full(n_cols, np.nan)
        avg_holding = np.where(n_trades > 0, bars_in_market / n_trades, np.nan)
        if positions is None:
            # One unit in and one unit out per trade.
            traded = 2.0 * n_trades
        else:
            pos = _zero_nan(positions)
            traded = np.abs(np.diff(pos, axis=0, prepend=0.0)).sum(axis=0)
        turnover = traded / years if n_bars else np.full(n_cols, np.nan)
    return TradeStats(
        n_trades=n_trades.astype(np.float64),
        win_rate=np.asarray(win_rate, dtype=np.float64),
        profit_factor=np.asarray(profit_factor, dtype=np.float64),
        exposure=np.asarray(exposure, dtype=np.float64),
        avg_holding_bars=np.asarray(avg_holding, dtype=np.float64),
        turnover=np.asarray(turnover, dtype=np.float64),
    )
