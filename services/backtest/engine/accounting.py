"""Fills, holdings, costs and per-bar PnL of decided actions, vectorised over combinations.

Fill rule: an action decided on bar t fills at the close of bar t+1 (``next_close``, the
default: the decision needs bar t's close) or at the close of bar t (``same_close``). A
decision whose fill bar is past the end is not filled; a position still open at the end is
marked to market, not liquidated.

Sizing: at the fill of an entry the position gets gross notional ``capital``: shares
q_a = d * w_a * capital / p_a and q_b = -d * sign(h) * w_b * capital / p_b (d = +1 long,
-1 short spread; w from :func:`core.strategy.leg_weights` at the fill
prices and the hedge ratio of the decision bar). Shares stay fixed until the exit fill.

PnL of bar t = q_a(t-1) * (p_a(t) - p_a(t-1)) + q_b(t-1) * (p_b(t) - p_b(t-1)) - costs(t).
Costs: (commission + slippage) bps of the traded notional |dq| * p_fill of each leg, on its
fill bar; borrow: borrow_bps_annual / bars_per_year of the short legs' notional at the
previous close, for every bar the position is held over. Returns are PnL / capital.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.portfolio import Costs
from core.strategy import ActionCode, b_leg_sign, leg_weights

__all__ = ["Costs", "Fills", "compute_fills", "fill_offset", "holdings", "pnl_matrix"]

FloatArray = NDArray[np.float64]
FILL_MODES = {"next_close": 1, "same_close": 0}
_BLOCK_CELLS = 4_000_000  # cells of a (T, block) temporary, bounds memory on big grids


@dataclass(frozen=True)
class Fills:
    """Filled actions sorted by combination then time; closes follow their entry."""

    decision_bar: NDArray[np.int64]
    fill_bar: NDArray[np.int64]
    combo: NDArray[np.int64]
    action: NDArray[np.int8]
    delta_position: NDArray[np.int64]  # change of the spread position (+1 long, -1 short)
    delta_a: FloatArray  # change of shares of A at the fill
    delta_b: FloatArray
    cost: FloatArray  # commission + slippage at the fill


def fill_offset(fill: str) -> int:
    if fill not in FILL_MODES:
        raise ValueError(f"fill must be one of {sorted(FILL_MODES)}, got {fill!r}")
    return FILL_MODES[fill]


def compute_fills(
    actions: NDArray[np.int8],
    hedge_ratio: FloatArray,
    column: NDArray[np.intp],
    prices_a: FloatArray,
    prices_b: FloatArray,
    sizing: str,
    capital: float,
    costs: Costs,
    offset: int,
) -> Fills:
    """Shares traded at every fill; ``hedge_ratio[t, column[c]]`` is combination c's at bar t."""
    n_bars = actions.shape[0]
    bars, combos = np.nonzero(actions)
    order = np.lexsort((bars, combos))
    bars, combos = bars[order], combos[order]
    filled = bars + offset < n_bars
    bars, combos = bars[filled], combos[filled]
    action = actions[bars, combos]
    fill_bar = bars + offset
    price_a, price_b = prices_a[fill_bar], prices_b[fill_bar]
    is_open = (action == ActionCode.OPEN_LONG_SPREAD) | (action == ActionCode.OPEN_SHORT_SPREAD)
    direction = np.where(action == ActionCode.OPEN_LONG_SPREAD, 1, 0) - np.where(
        action == ActionCode.OPEN_SHORT_SPREAD, 1, 0
    )
    hedge = hedge_ratio[bars, column[combos]]
    if not np.all(np.isfinite(hedge[is_open])):
        bad = int(bars[is_open][~np.isfinite(hedge[is_open])][0])
        raise ValueError(f"hedge ratio is not finite at bar {bad} where a position opens")
    w_a, w_b = leg_weights(hedge, price_a, price_b, sizing)
    delta_a = np.where(is_open, direction * w_a * capital / price_a, 0.0)
    delta_b = np.where(is_open, direction * b_leg_sign(hedge) * w_b * capital / price_b, 0.0)
    closes = np.flatnonzero(~is_open)
    if len(closes) and (
        np.any(closes == 0)
        or np.any(combos[closes - 1] != combos[closes])
        or not np.all(is_open[closes - 1])
    ):
        raise AssertionError("a close without its entry: the decision sequence is corrupt")
    delta_a[closes] = -delta_a[closes - 1]
    delta_b[closes] = -delta_b[closes - 1]
    direction[closes] = -direction[closes - 1]
    cost = costs.trade_rate * (np.abs(delta_a) * price_a + np.abs(delta_b) * price_b)
    return Fills(
        decision_bar=bars.astype(np.int64),
        fill_bar=fill_bar.astype(np.int64),
        combo=combos.astype(np.int64),
        action=action,
        delta_position=direction.astype(np.int64),
        delta_a=delta_a,
        delta_b=delta_b,
        cost=cost,
    )


def pnl_matrix(
    fills: Fills,
    n_combos: int,
    prices_a: FloatArray,
    prices_b: FloatArray,
    costs: Costs,
) -> FloatArray:
    """Per-bar PnL (T, C) of the fills, in blocks of combinations."""
    n_bars = len(prices_a)
    pnl = np.zeros((n_bars, n_combos))
    move_a = np.diff(prices_a)[:, None]
    move_b = np.diff(prices_b)[:, None]
    borrow = costs.borrow_rate_per_bar
    block = max(1, _BLOCK_CELLS // max(n_bars, 1))
    for start in range(0, n_combos, block):
        stop = min(start + block, n_combos)
        in_block = (fills.combo >= start) & (fills.combo < stop)
        shares_a = holdings(
            fills.fill_bar[in_block],
            fills.combo[in_block] - start,
            fills.delta_a[in_block],
            n_bars,
            stop - start,
        )
        shares_b = holdings(
            fills.fill_bar[in_block],
            fills.combo[in_block] - start,
            fills.delta_b[in_block],
            n_bars,
            stop - start,
        )
        out = pnl[:, start:stop]
        out[1:] = shares_a[:-1] * move_a + shares_b[:-1] * move_b
        if borrow > 0:
            short_notional = np.maximum(-shares_a[:-1], 0.0) * prices_a[:-1, None]
            short_notional += np.maximum(-shares_b[:-1], 0.0) * prices_b[:-1, None]
            out[1:] -= borrow * short_notional
    np.subtract.at(pnl, (fills.fill_bar, fills.combo), fills.cost)
    return pnl


def holdings(
    fill_bar: NDArray[np.int64],
    combo: NDArray[np.int64],
    delta: FloatArray,
    n_bars: int,
    n_combos: int,
) -> FloatArray:
    """Units held after the fills of each bar (T, C).

    Entries and exits of a combination alternate and an exit's delta is minus its entry's,
    so the running sum is exactly the entry's value while open and exactly 0 while flat.
    """
    changes = np.zeros((n_bars, n_combos))
    changes[fill_bar, combo] = delta
    return np.cumsum(changes, axis=0, out=changes)
