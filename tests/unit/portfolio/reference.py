"""An independent pandas statement of the portfolio rules, pair by pair: the tests' oracle
and bench/portfolio.py's baseline.

Scope: "equal" allocation with no limit binding (no kill-switch, no max_pairs, no net or
symbol cap, a gross limit never reached). It shares no code with core.portfolio: each pair's
target shares come from its own signals and lifecycle; the symbols' holdings are the sum of
the pairs', filled at the symbol's next close; PnL, costs and borrow are whole-frame
arithmetic. (Two orders of one symbol waiting on a missing close are costed as one here.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from core.portfolio import PairSignal, PortfolioConfig

IN_PLAY = ("active", "degraded")


@dataclass(frozen=True)
class ReferenceResult:
    equity: pd.Series
    pair_pnl: pd.DataFrame  # bars x pairs
    fills: pd.DataFrame  # columns: time, symbol, quantity (signed), price, cost


def _lifecycle_frame(
    times: pd.DatetimeIndex, pairs: list[str], lifecycle: Sequence[tuple[str, str, datetime]]
) -> pd.DataFrame:
    states = pd.DataFrame(None, index=times, columns=pairs, dtype=object)
    for pair, state, as_of in sorted(lifecycle, key=lambda c: (c[2], c[0])):
        at = times.searchsorted(as_of)
        if at < len(times):
            states.iloc[at, states.columns.get_loc(pair)] = state
    return states.ffill()


def _pair_events(
    pair: str, signals: list[PairSignal], times: pd.DatetimeIndex, states: pd.Series
) -> list[tuple[int, int, PairSignal | None]]:
    """(bar, new direction, entry signal or None) at every change of the pair's direction."""
    wanted: dict[int, PairSignal | None] = {}
    for sig in sorted(signals, key=lambda s: (s.bar_time, s.is_entry, s.signal_id)):
        at = int(times.searchsorted(sig.bar_time))
        if at < len(times):
            wanted[at] = sig if sig.is_entry else None
    retired = np.flatnonzero((states == "retired").to_numpy())
    events, direction = [], 0
    for at in sorted(set(wanted) | set(retired.tolist())):
        sig = None if states.iloc[at] == "retired" else wanted.get(at)
        new = sig.direction if sig is not None else 0
        if new != direction:
            events.append((at, new, sig))
            direction = new
    return events


def pandas_portfolio(
    config: PortfolioConfig,
    closes: pd.DataFrame,
    signals: Sequence[PairSignal],
    lifecycle: Sequence[tuple[str, str, datetime]],
) -> ReferenceResult:
    times = pd.DatetimeIndex(closes.index)
    prices = closes.ffill()
    pairs = sorted({s.pair_id for s in signals} | {c[0] for c in lifecycle})
    states = _lifecycle_frame(times, pairs, lifecycle)
    by_pair = {p: [s for s in signals if s.pair_id == p] for p in pairs}
    events = {p: _pair_events(p, by_pair[p], times, states[p]) for p in pairs}
    # N per bar: pairs in play plus entering pairs that are not
    entering = pd.DataFrame(False, index=times, columns=pairs)
    for p, evs in events.items():
        for at, new, _sig in evs:
            entering.iloc[at, entering.columns.get_loc(p)] = new != 0
    counted = states.isin(IN_PLAY) | entering
    notional = config.gross_leverage_cap * config.capital / counted.sum(axis=1).clip(lower=1)
    held: dict[str, pd.DataFrame] = {}
    for p, evs in events.items():
        target = pd.DataFrame(np.nan, index=times, columns=closes.columns)
        for at, _new, sig in evs:
            target.iloc[at] = 0.0
            if sig is not None:
                total = sum(leg.weight for leg in sig.legs)
                for leg in sig.legs:
                    shares = leg.sign * leg.weight / total * notional.iloc[at]
                    target.iloc[at, target.columns.get_loc(leg.symbol)] = (
                        shares / prices[leg.symbol].iloc[at]
                    )
        target = target.ffill().fillna(0.0)
        held[p] = target.shift(1).where(closes.notna()).ffill().fillna(0.0)
    return _accounts(config, closes, prices, held)


def _accounts(
    config: PortfolioConfig,
    closes: pd.DataFrame,
    prices: pd.DataFrame,
    held: dict[str, pd.DataFrame],
) -> ReferenceResult:
    zero = pd.DataFrame(0.0, index=closes.index, columns=closes.columns)
    position = sum(held.values(), zero)
    move = prices.diff().fillna(0.0)
    traded = position.diff().fillna(position)
    cost = config.costs.trade_rate * traded.abs() * prices.fillna(0.0)
    short = {p: (-h.shift(1).fillna(0.0)).clip(lower=0.0) for p, h in held.items()}
    net_short = (-position.shift(1).fillna(0.0)).clip(lower=0.0)
    borrow = config.costs.borrow_rate_per_bar * net_short * prices.shift(1).fillna(0.0)
    gross = (position.shift(1).fillna(0.0) * move).sum(axis=1)
    pnl = gross - borrow.sum(axis=1) - cost.sum(axis=1)
    equity = config.capital + pnl.cumsum()
    changes = {p: h.diff().fillna(h).abs() for p, h in held.items()}
    all_changes = sum(changes.values(), zero)
    all_short = sum(short.values(), zero)
    pair_pnl = pd.DataFrame(
        {
            p: (h.shift(1).fillna(0.0) * move).sum(axis=1)
            - (cost * (changes[p] / all_changes).fillna(0.0)).sum(axis=1)
            - (borrow * (short[p] / all_short).fillna(0.0)).sum(axis=1)
            for p, h in held.items()
        },
        index=closes.index,
    )
    stacked = traded.stack()
    done = stacked[stacked != 0.0]
    fills = pd.DataFrame(
        {
            "time": done.index.get_level_values(0),
            "symbol": done.index.get_level_values(1),
            "quantity": done.to_numpy(),
            "price": [prices.at[t, s] for t, s in done.index],
            "cost": [cost.at[t, s] for t, s in done.index],
        }
    )
    return ReferenceResult(equity, pair_pnl, fills)
