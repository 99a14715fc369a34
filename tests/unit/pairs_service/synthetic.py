"""Synthetic universes with planted cointegrated pairs, as per-symbol bar streams."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from services.pairs.domain.universe import BarClose

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def bar_times(n: int) -> list[datetime]:
    return [T0 + timedelta(days=i) for i in range(n)]


def planted_universe(n_bars: int, seed: int = 7) -> tuple[list[str], np.ndarray]:
    """Six symbols: AAA~BBB and CCC~DDD cointegrated (AR(1) spread, phi 0.6), EEE and FFF
    independent random walks. Returns symbols and a (T, 6) price matrix."""
    rng = np.random.default_rng(seed)

    def walk() -> np.ndarray:
        return np.asarray(np.cumsum(rng.normal(0.0, 0.02, n_bars)) + np.log(50.0), dtype=float)

    def ar1(phi: float, sd: float) -> np.ndarray:
        e = rng.normal(0.0, sd, n_bars)
        out = np.empty(n_bars)
        out[0] = e[0]
        for t in range(1, n_bars):
            out[t] = phi * out[t - 1] + e[t]
        return out

    bbb, ddd = walk(), walk()
    aaa = 0.8 * bbb + 0.9 + ar1(0.6, 0.005)
    ccc = 1.2 * ddd - 0.6 + ar1(0.6, 0.005)
    cols = [aaa, bbb, ccc, ddd, walk(), walk()]
    return ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"], np.exp(np.column_stack(cols))


def streams(
    symbols: list[str], prices: np.ndarray, *, revisions: bool = False
) -> dict[str, list[BarClose]]:
    """Per-symbol ordered bar streams; with ``revisions`` some bars are later corrected
    (revision 1 a few bars after the original) and some days are missing (gaps)."""
    times = bar_times(prices.shape[0])
    out: dict[str, list[BarClose]] = {}
    for j, s in enumerate(symbols):
        stream: list[BarClose] = []
        for i, t in enumerate(times):
            if revisions and j == 5 and i % 37 == 11:
                continue  # a gap, forward-filled by the universe
            stream.append(BarClose(s, t, float(prices[i, j]), 0))
            if revisions and i >= 3 and (i * 7 + j) % 29 == 0:
                old = times[i - 3]
                stream.append(BarClose(s, old, float(prices[i - 3, j]) * 1.001, 1))
        out[s] = stream
    return out


def interleave(per_symbol: dict[str, list[BarClose]], seed: int) -> list[BarClose]:
    """A random merge that keeps each symbol's own order (what partitions guarantee)."""
    rng = np.random.default_rng(seed)
    cursors = {s: 0 for s in per_symbol}
    out: list[BarClose] = []
    live = sorted(per_symbol)
    while live:
        s = live[int(rng.integers(len(live)))]
        run = int(rng.integers(1, 40))  # bursts, like a fetch from one partition
        stream = per_symbol[s]
        out.extend(stream[cursors[s] : cursors[s] + run])
        cursors[s] += run
        if cursors[s] >= len(stream):
            live.remove(s)
    return out
