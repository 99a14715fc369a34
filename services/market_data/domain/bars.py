"""Event-time OHLCV bars per (symbol, interval), with watermarks, grace and revisions.

Rules (contract rule 6, event time not arrival time):

- Each symbol has a watermark: the latest trade time seen for it.
- A bar [start, end) closes, and is published with revision 0, when its symbol's watermark
  reaches `end`. Until then out-of-order trades simply update it.
- A trade for a closed bar revises it (same bar_id, revision + 1, published again) when its
  lateness (watermark - trade time) is within the interval's grace; beyond grace it is
  returned as late, for the service to store and count. A closed bar leaves memory once no
  trade can revise it any more (watermark >= end + grace); its row stays in the database.

The output depends only on the per-symbol order of the trades, never on how they are cut
into batches, and a restore from rows in between changes nothing. That is why this is a
sequential loop and not a vectorised group-by: float sums depend on the order of the
additions, and a per-batch NumPy reduction would add in a different order than a one-shot
run, so bar volumes and VWAPs would differ in the last bits between batchings.

`apply` takes only trades the service has not seen before (it asks its database which tick
ids are new, and `validation.first_occurrences` drops repeats inside a batch): a trade
applied twice is counted twice.

Close on clock (`BarConfig.close_on_clock`, off by default): `close_due(clock)` closes open
bars whose end + grace is before the clock, for a live feed where a quiet symbol would
otherwise keep its last bar open until its next trade. It is off by default because what is
published then depends on wall time (when the timer fired, how far a replay got), so two
runs over the same trades could publish different revisions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from services.market_data.domain import bars_in_order
from services.market_data.domain.bar_state import (
    BarChanges,
    BarRow,
    Lanes,
    LateTick,
    MutableBar,
    SymbolBars,
    earliest_end,
)
from services.market_data.domain.validation import AcceptedTick, epoch_us
from shared.clock import Clock
from shared.events.market import INTERVAL_SECONDS, Bar

DEFAULT_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class BarConfig:
    """Per-run bar settings. `grace` maps interval -> grace; missing intervals get 5 min.

    Five minutes covers the usual reordering of a live feed (exchange and network delays
    are seconds); a replay of daily closes arrives in order, so grace does not matter there.
    """

    intervals: tuple[str, ...] = ("1m", "1h", "1d")
    grace: Mapping[str, timedelta] = field(default_factory=dict)
    close_on_clock: bool = False

    def __post_init__(self) -> None:
        if not self.intervals:
            raise ValueError("at least one bar interval is needed")
        for name in (*self.intervals, *self.grace):
            if name not in INTERVAL_SECONDS:
                known = ", ".join(INTERVAL_SECONDS)
                raise ValueError(f"unknown bar interval {name!r} (known: {known})")
        if len(set(self.intervals)) != len(self.intervals):
            raise ValueError(f"bar intervals repeat: {self.intervals}")
        for name, grace in self.grace.items():
            if grace < timedelta(0):
                raise ValueError(f"grace of {name} must not be negative, got {grace}")

    def width_us(self, interval: str) -> int:
        return INTERVAL_SECONDS[interval] * 1_000_000

    def grace_us(self, interval: str) -> int:
        return epoch_us_delta(self.grace.get(interval, DEFAULT_GRACE))


def epoch_us_delta(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


class BarAggregator:
    def __init__(self, config: BarConfig | None = None) -> None:
        self.config = config if config is not None else BarConfig()
        names = self.config.intervals
        self._lanes = Lanes(
            names,
            tuple(self.config.width_us(i) for i in names),
            tuple(self.config.grace_us(i) for i in names),
        )
        self._symbols: dict[str, SymbolBars] = {}

    def apply(self, ticks: Sequence[AcceptedTick]) -> BarChanges:
        """Add new trades (never seen before) in arrival order; see the module docstring.

        A large batch in time order per symbol takes the vectorised path (bars_in_order.py),
        which gives the same result; any other batch takes the loop."""
        changes = self.apply_in_order(ticks)
        return changes if changes is not None else self.apply_each(ticks)

    def apply_in_order(self, ticks: Sequence[AcceptedTick]) -> BarChanges | None:
        """`apply` by the vectorised path, or None (nothing changed) when the batch does not
        qualify for it (small, not in time order per symbol, late trades, close on clock)."""
        if self.config.close_on_clock:
            return None
        return bars_in_order.apply_in_order(self._lanes, self._symbols, ticks)

    def apply_each(self, ticks: Sequence[AcceptedTick]) -> BarChanges:
        """`apply` as a loop over the trades: exact for any order (and the vector path's oracle)."""
        changes = BarChanges()
        touched: dict[MutableBar, None] = {}
        publish, late, marks = changes.publish, changes.late, changes.watermarks
        symbols = self._symbols
        for tick in ticks:
            # One unpack instead of four attribute reads: this loop runs once per trade.
            _, symbol, ts, price, size, _, _ = tick
            state = symbols.get(symbol)
            if state is None:
                state = symbols[symbol] = self._lanes.new_symbol()
            if ts > state.watermark:
                state.watermark = marks[symbol] = ts
                if ts >= state.next_close:
                    self._close_reached(state, touched, publish)
                if ts >= state.next_evict:
                    state.evict()
            watermark = state.watermark
            for name, width, grace, opened, closed in state.lanes:
                start = ts - ts % width
                end = start + width
                if end > watermark:
                    bar = opened.get(start)
                    if bar is not None:  # the common case, inlined MutableBar.add
                        if ts < bar.open_ts:
                            bar.open, bar.open_ts = price, ts
                        if ts >= bar.close_ts:
                            bar.close, bar.close_ts = price, ts
                        if price > bar.high:
                            bar.high = price
                        elif price < bar.low:
                            bar.low = price
                        bar.volume += size
                        bar.pv += price * size
                        bar.price_sum += price
                        bar.count += 1
                        touched[bar] = None
                        continue
                    if start not in closed:  # closed early only by close_due
                        bar = opened[start] = MutableBar(symbol, name, start, end, tick)
                        if end < state.next_close:
                            state.next_close = end
                        touched[bar] = None
                        continue
                elif watermark - ts > grace:
                    late.append(LateTick(tick, name, watermark - ts))
                    continue
                bar = closed.get(start)
                if bar is None:  # a closed bar that had no trade: published fresh
                    bar = closed[start] = MutableBar(symbol, name, start, end, tick)
                    bar.closed = True
                    if end + grace < state.next_evict:
                        state.next_evict = end + grace
                else:
                    bar.add(price, size, ts)
                    bar.revision += 1
                publish.append(bar.to_event())
                touched[bar] = None
        changes.upserts = [bar.to_row() for bar in touched]
        return changes

    def _close_reached(
        self, state: SymbolBars, touched: dict[MutableBar, None], publish: list[Bar]
    ) -> None:
        watermark = state.watermark
        for i, grace in enumerate(self._lanes.graces):
            due = sorted(s for s, bar in state.open[i].items() if bar.end <= watermark)
            for start in due:
                state.close_one(i, start, grace, touched, publish)
        state.next_close = earliest_end(state.open)

    def advance_watermarks(
        self, marks: Mapping[int, int], partition_of: Callable[[str], int]
    ) -> BarChanges:
        """The feed's watermark per partition (no trade at or before it follows there) moves
        the watermark of every symbol of that partition: its bars that end by then close,
        exactly as a later trade of the symbol would close them (contract rule 7)."""
        changes = BarChanges()
        touched: dict[MutableBar, None] = {}
        for symbol, state in self._symbols.items():
            mark = marks.get(partition_of(symbol))
            if mark is None or mark <= state.watermark:
                continue
            state.watermark = changes.watermarks[symbol] = mark
            if mark >= state.next_close:
                self._close_reached(state, touched, changes.publish)
            if mark >= state.next_evict:
                state.evict()
        changes.upserts = [bar.to_row() for bar in touched]
        return changes

    def close_due(self, clock: Clock) -> BarChanges:
        """Close open bars with end + grace before clock.now() (only with close_on_clock)."""
        changes = BarChanges()
        if not self.config.close_on_clock:
            return changes
        now = epoch_us(clock.now())
        touched: dict[MutableBar, None] = {}
        publish = changes.publish
        for state in self._symbols.values():
            for i, grace in enumerate(self._lanes.graces):
                due = sorted(s for s, bar in state.open[i].items() if bar.end + grace < now)
                for start in due:
                    state.close_one(i, start, grace, touched, publish)
            state.next_close = earliest_end(state.open)
        changes.upserts = [bar.to_row() for bar in touched]
        return changes

    def snapshot(self) -> tuple[dict[str, int], list[BarRow]]:
        """Watermarks and live bar rows: exactly what `restore` needs."""
        watermarks = {symbol: state.watermark for symbol, state in self._symbols.items()}
        rows = [
            bar.to_row()
            for state in self._symbols.values()
            for per_interval in (*state.open, *state.closed)
            for bar in per_interval.values()
        ]
        return watermarks, rows

    @classmethod
    def restore(
        cls, config: BarConfig, watermarks: Mapping[str, int], rows: Iterable[BarRow]
    ) -> BarAggregator:
        """Rebuild from stored watermarks and bar rows (extra, finished rows are ignored)."""
        agg = cls(config)
        index = {name: i for i, name in enumerate(agg._lanes.names)}
        for symbol, watermark in watermarks.items():
            agg._symbols[symbol] = state = agg._lanes.new_symbol()
            state.watermark = watermark
        for row in rows:
            i = index.get(row.interval)
            owner = agg._symbols.get(row.symbol)
            if i is None or owner is None:
                continue
            grace = agg._lanes.graces[i]
            if row.closed and row.end_us + grace <= owner.watermark:
                continue  # can no longer be revised
            bar = MutableBar.from_row(row)
            if row.closed:
                owner.closed[i][row.start_us] = bar
                owner.next_evict = min(owner.next_evict, row.end_us + grace)
            else:
                owner.open[i][row.start_us] = bar
                owner.next_close = min(owner.next_close, row.end_us)
        return agg
