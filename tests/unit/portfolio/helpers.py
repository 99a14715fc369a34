"""Builders of signals, lifecycle changes and price paths for the portfolio book tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from core.portfolio import LegWeight, PairSignal

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def entry(pair: str, direction: int, n: int, w_a: float = 0.5, hedge: float = 1.0) -> PairSignal:
    """An entry on pair A~B at bar n: long spread buys A and sells B (hedge >= 0)."""
    a, b = pair.split("~")
    side_a = "buy" if direction > 0 else "sell"
    side_b = "sell" if direction > 0 else "buy"
    action = "open_long_spread" if direction > 0 else "open_short_spread"
    legs = (LegWeight(a, side_a, w_a), LegWeight(b, side_b, 1.0 - w_a))
    return PairSignal(f"{pair}-{n}-{action}", pair, action, day(n), hedge, legs)


def exit_(pair: str, n: int, action: str = "close") -> PairSignal:
    return PairSignal(f"{pair}-{n}-{action}", pair, action, day(n), 1.0, ())


def random_closes(symbols: list[str], n_bars: int, seed: int, vol: float = 0.02) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, vol, size=(n_bars, len(symbols)))
    start = rng.uniform(10.0, 200.0, size=len(symbols))
    prices = start * np.exp(np.cumsum(steps, axis=0))
    index = pd.DatetimeIndex([day(i) for i in range(n_bars)])
    return pd.DataFrame(prices, index=index, columns=symbols)
