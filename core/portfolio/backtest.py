"""The portfolio backtest: the live PortfolioBook driven bar by bar over history.

Before each bar t the book is given every signal with bar_time <= t and every lifecycle
change with as_of <= t, in the order given (the live service's release order); a row's NaN
closes are left out, as a live bar that did not happen. Live and backtest run the same code
on the same calls, so their fills and PnL agree to the bit.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from core.portfolio.book import PortfolioBook
from core.portfolio.metrics import FloatArray, equity_returns, max_drawdown, sharpe, total_return
from core.portfolio.model import BarOutcome, FillRecord, PairSignal, PlannedOrder, PortfolioConfig


@dataclass(frozen=True)
class PortfolioBacktest:
    outcomes: list[BarOutcome]
    equity: pd.Series  # per bar, after the bar's fills
    pair_pnl: pd.DataFrame  # bars x pairs, net of each pair's share of costs
    orders: list[PlannedOrder]
    fills: list[FillRecord]
    total_return: float
    sharpe: float
    max_drawdown: float  # negative fraction, as services/backtest/metrics.py

    @property
    def netted_legs(self) -> int:
        return sum(o.netted_legs for o in self.outcomes)


def _by_time(items: Sequence[tuple[datetime, object]], times: list[datetime]) -> list[list[int]]:
    """Indices of items per bar: item k goes to the first bar at or after its time."""
    slots: list[list[int]] = [[] for _ in times]
    for k, (when, _item) in enumerate(items):
        i = bisect.bisect_left(times, when)
        if i < len(times):
            slots[i].append(k)
    return slots


def run_portfolio_backtest(
    config: PortfolioConfig,
    closes: pd.DataFrame,
    signals: Sequence[PairSignal],
    lifecycle: Sequence[tuple[str, str, datetime]],
) -> PortfolioBacktest:
    if not closes.index.is_monotonic_increasing or not closes.index.is_unique:
        raise ValueError("closes must be indexed by strictly increasing bar times")
    times = [t.to_pydatetime() for t in pd.DatetimeIndex(closes.index)]
    if times and times[0].tzinfo is None:
        raise ValueError("closes must be indexed by timezone-aware (UTC) bar times")
    book = PortfolioBook(config)
    signal_slots = _by_time([(s.bar_time, s) for s in signals], times)
    change_slots = _by_time([(c[2], c) for c in lifecycle], times)
    symbols = [str(c) for c in closes.columns]
    values = closes.to_numpy(dtype=np.float64)
    outcomes: list[BarOutcome] = []
    for i, when in enumerate(times):
        for k in change_slots[i]:
            book.on_lifecycle(*lifecycle[k])
        for k in signal_slots[i]:
            book.on_signal(signals[k])
        row = values[i]
        present = np.flatnonzero(~np.isnan(row))
        outcomes.append(book.on_bar(when, {symbols[j]: float(row[j]) for j in present}))
    return _result(config, closes.index, outcomes)


def _result(
    config: PortfolioConfig, index: pd.Index, outcomes: list[BarOutcome]
) -> PortfolioBacktest:
    equity = pd.Series([o.mark.equity for o in outcomes], index=index, name="equity")
    pnl: dict[str, dict[int, float]] = {}
    for i, o in enumerate(outcomes):
        for p in o.mark.pairs:
            pnl.setdefault(p.pair_id, {})[i] = p.pnl
    pair_pnl = pd.DataFrame(
        {pair: pd.Series(rows, dtype=np.float64) for pair, rows in sorted(pnl.items())},
        index=range(len(outcomes)),
    ).fillna(0.0)
    pair_pnl.index = index
    curve: FloatArray = np.asarray(equity, dtype=np.float64)
    returns = equity_returns(curve, config.capital)
    return PortfolioBacktest(
        outcomes=outcomes,
        equity=equity,
        pair_pnl=pair_pnl,
        orders=[order for o in outcomes for order in o.orders],
        fills=[fill for o in outcomes for fill in o.fills],
        total_return=total_return(returns),
        sharpe=sharpe(returns, config.bars_per_year),
        max_drawdown=max_drawdown(returns),
    )
