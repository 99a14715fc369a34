"""The bar aggregator's vectorised path for a batch whose trades arrive in time order per symbol.

`BarAggregator.apply` is a loop over trades, which is exact for any arrival order. Most
batches of a replay or a healthy live feed hold, per symbol, trades that never go back in
time and start at or after the symbol's watermark. For such a batch no trade is late, no
closed bar is revised, and every bar closes after all its trades arrived, so the loop's
outcome can be computed per bar run (the consecutive trades of one symbol in one bar):

- open/close are the run's first/last trade (or the bar's earlier open), high/low the
  extremes, count the run length;
- volume, sum of price * size and sum of prices are added in arrival order starting from the
  bar's stored sums, with `np.add.accumulate` along padded rows: each step is
  out[j] = out[j - 1] + x[j], the loop's own additions in the loop's own order, so the
  floats are identical to the bit (the padding adds -0.0, which changes nothing);
- a bar closes at the first trade of its symbol at or after its end; the loop publishes the
  bars a trade closes lane by lane, by start, so publications are sorted by (that trade's
  position in the batch, lane, start).

`apply_in_order` works on the aggregator's lanes and per-symbol state (bar_state.py), which
`BarAggregator.apply_in_order` passes in, and returns None, having changed nothing, when the
batch does not qualify; the caller then loops. tests/unit/market_data/test_bars_in_order.py
checks it equals the loop on the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from services.market_data.domain.bar_state import (
    BEFORE_ALL,
    BarChanges,
    Lanes,
    MutableBar,
    SymbolBars,
    earliest_end,
)
from services.market_data.domain.validation import AcceptedTick
from shared.events import Bar

# Below this many trades the loop is as fast as the fixed cost of the array set-up.
MIN_VECTOR_TRADES = 256
# The padded rows hold runs x longest run cells; a batch so skewed that they would exceed
# this many times its trades (one busy symbol among many single trades) takes the loop.
MAX_PADDING_FACTOR = 8

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def _sequential_sums(values: F64, starts: F64, runs: _Runs, n_runs: int) -> F64:
    """Per run, starts[r] + v0 + v1 + ... added left to right (the loop's order)."""
    # -0.0, not 0.0, pads and starts new bars: x + -0.0 == x for every x, -0.0 included,
    # whereas -0.0 + 0.0 is 0.0 (a zero-size first trade would change the volume's sign).
    rows = np.full((n_runs, int(runs.count.max()) + 1), -0.0)
    rows[:, 0] = starts
    rows[runs.run_of, runs.slot + 1] = values
    result: F64 = np.add.accumulate(rows, axis=1)[:, -1]
    return result


class _Runs:
    """One lane's runs over the symbol-sorted batch: where each starts, its length, which run
    each trade is in and at which place."""

    def __init__(self, starts: I64, new_symbol: npt.NDArray[np.bool_], n: int) -> None:
        new_run = new_symbol.copy()
        new_run[1:] |= starts[1:] != starts[:-1]
        self.first = np.flatnonzero(new_run)
        self.count = np.diff(np.append(self.first, n))
        self.run_of = np.repeat(np.arange(len(self.first)), self.count)
        self.slot = np.arange(n) - self.first[self.run_of]

    def padded_cells(self) -> int:
        return len(self.first) * (int(self.count.max()) + 1)


def apply_in_order(
    lanes: Lanes, symbols: dict[str, SymbolBars], ticks: Sequence[AcceptedTick]
) -> BarChanges | None:
    """The batch's changes to the bars of `symbols` (updated in place), or None, nothing
    changed, when the batch does not qualify (see the module docstring)."""
    n = len(ticks)
    if n < MIN_VECTOR_TRADES:
        return None
    columns = list(zip(*ticks, strict=True))
    names = list(dict.fromkeys(columns[1]))  # in order of first appearance, without a loop
    codes_of = {symbol: i for i, symbol in enumerate(names)}
    code = np.fromiter(map(codes_of.__getitem__, columns[1]), np.int64, n)
    order = np.argsort(code, kind="stable")  # grouped by symbol, arrival order kept
    c = code[order]
    ts = np.asarray(columns[2], dtype=np.int64)[order]
    price = np.asarray(columns[3], dtype=np.float64)[order]
    size = np.asarray(columns[4], dtype=np.float64)[order]

    new_symbol = np.ones(n, dtype=bool)
    new_symbol[1:] = c[1:] != c[:-1]
    if np.any((ts[1:] < ts[:-1]) & ~new_symbol[1:]):
        return None  # some symbol goes back in time within the batch
    sym_first = np.flatnonzero(new_symbol)
    sym_end = np.append(sym_first[1:], n)
    known = [symbols.get(s) for s in names]
    old_marks = np.array([s.watermark if s is not None else BEFORE_ALL for s in known])
    if np.any(ts[sym_first] < old_marks):
        return None  # a trade older than its symbol's watermark: late, or a revision
    runs_of = [_Runs(ts - ts % width, new_symbol, n) for width in lanes.widths]
    if any(runs.padded_cells() > MAX_PADDING_FACTOR * n + 4096 for runs in runs_of):
        return None

    # From here on the batch qualifies and state changes.
    states = [s if s is not None else lanes.new_symbol() for s in known]
    for symbol, state in zip(names, states, strict=True):
        symbols[symbol] = state
    touched: dict[MutableBar, None] = {}
    for lane, runs in enumerate(runs_of):
        _add_runs(lanes, lane, runs, states, names, ticks, order, c, ts, price, size, touched)
    changes = BarChanges()
    closing: list[tuple[int, int, int, Bar]] = []
    for i, state in enumerate(states):
        lo, hi = int(sym_first[i]), int(sym_end[i])
        watermark = max(state.watermark, int(ts[hi - 1]))
        if watermark > state.watermark:
            state.watermark = changes.watermarks[names[i]] = watermark
        for lane, grace in enumerate(lanes.graces):
            opened = state.open[lane]
            for bar_start in sorted(s for s, b in opened.items() if b.end <= watermark):
                # Closed by the symbol's first trade at or after its end (there is one:
                # open bars end after the old watermark); published as the loop closes it.
                end = opened[bar_start].end
                at = lo + int(np.searchsorted(ts[lo:hi], end, side="left"))
                closed_now: list[Bar] = []
                state.close_one(lane, bar_start, grace, touched, closed_now)
                closing.append((int(order[at]), lane, bar_start, closed_now[0]))
        state.next_close = earliest_end(state.open)
        state.evict()
    closing.sort(key=lambda item: item[:3])
    changes.publish = [event for *_, event in closing]
    changes.upserts = [bar.to_row() for bar in touched]
    return changes


def _add_runs(
    lanes: Lanes,
    lane: int,
    runs: _Runs,
    states: list[SymbolBars],
    names: list[str],
    ticks: Sequence[AcceptedTick],
    order: I64,
    c: I64,
    ts: I64,
    price: F64,
    size: F64,
    touched: dict[MutableBar, None],
) -> None:
    """Add each run's trades to its bar of this lane (opened with the run's first trade)."""
    name, width = lanes.names[lane], lanes.widths[lane]
    n_runs = len(runs.first)
    bars: list[MutableBar] = []
    sums = np.full((3, n_runs), -0.0)  # volume, price * size, price: the bars' sums so far
    for r, k in enumerate(runs.first.tolist()):
        state = states[int(c[k])]
        bar_start = int(ts[k]) - int(ts[k]) % width
        bar = state.open[lane].get(bar_start)
        if bar is None:
            bar = MutableBar(names[int(c[k])], name, bar_start, bar_start + width,
                             ticks[int(order[k])])  # fmt: skip
            bar.count = 0  # the run's trades, the first included, are added below
            state.open[lane][bar_start] = bar
        else:
            sums[:, r] = bar.volume, bar.pv, bar.price_sum
        bars.append(bar)
    volume = _sequential_sums(size, sums[0], runs, n_runs)
    pv = _sequential_sums(price * size, sums[1], runs, n_runs)
    psum = _sequential_sums(price, sums[2], runs, n_runs)
    high = np.maximum.reduceat(price, runs.first)
    low = np.minimum.reduceat(price, runs.first)
    last = (runs.first + runs.count - 1).tolist()
    for r, bar in enumerate(bars):
        k = last[r]
        # The loop's `elif` never skips a low: a price above the high is above the low.
        bar.close, bar.close_ts = float(price[k]), int(ts[k])
        bar.high = max(bar.high, float(high[r]))
        bar.low = min(bar.low, float(low[r]))
        bar.volume, bar.pv, bar.price_sum = float(volume[r]), float(pv[r]), float(psum[r])
        bar.count += int(runs.count[r])
        touched[bar] = None
