"""The portfolio's mark at a bar's close, after that bar's fills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from core.portfolio.model import FillRecord, PairMark, PortfolioMark, SymbolMark
from core.portfolio.state import BookState

FloatArray = NDArray[np.float64]


@dataclass
class Marked:
    pnl: float  # equity change over the bar
    pair_pnl: FloatArray
    costs: float
    fills: list[FillRecord]


def mark_of(state: BookState, bar_time: datetime, marked: Marked) -> PortfolioMark:
    position = state.held.sum(axis=0)
    prices = np.where(np.isnan(state.prices), 0.0, state.prices)
    value = position * prices
    held = np.flatnonzero(position != 0.0)
    shown = np.flatnonzero(
        (state.held != 0.0).any(axis=1)
        | (state.target_dir != 0)
        | (state.held_dir != 0)
        | (marked.pair_pnl != 0.0)
    )
    drawdown = min(max(1.0 - state.equity / state.peak, 0.0), 1.0)
    return PortfolioMark(
        bar_time=bar_time,
        equity=state.equity,
        cash=state.cash,
        pnl=marked.pnl,
        gross_exposure=float(np.abs(value).sum()),
        net_exposure=float(value.sum()),
        drawdown=drawdown,
        kill_switch=state.kill_reason is not None,
        kill_reason=state.kill_reason,
        positions=tuple(
            SymbolMark(state.symbols[j], float(position[j]), float(prices[j]), float(value[j]))
            for j in held
        ),
        pairs=tuple(
            PairMark(
                state.pairs[i],
                int(state.held_dir[i]),
                float(marked.pair_pnl[i]),
                float(state.cum_pnl[i]),
            )
            for i in shown
        ),
        costs=marked.costs,
    )
