"""The universe clock: turns per-symbol bar streams, interleaved in any order, into one
deterministic sequence of "complete" bar times, and keeps the aligned close matrix.

In the service, bars come released by event time (contract rule 7): a bar time is complete
once every input partition's watermark has passed it (`advance(through=...)`), so a symbol
absent at t is absent by event time, and neither the arrival order nor the staleness rule
below decides anything. The rest of this docstring describes completeness without watermarks.

Bars of different symbols arrive on different partitions, so arrival order means nothing;
only each symbol's own order does. A bar time t is complete when every (non-stale) symbol
of the universe has a bar at or after t: from then on no in-order bar can still land at or
before t, so the row of t is final whatever the interleaving.

A bar at or before its symbol's latest bar time (a revision, or a late fill of a gap) is
not applied at once: where it would land relative to the clock depends on interleaving.
It is DEFERRED and takes effect for complete times strictly after the symbol's latest bar
time at arrival, a point in that symbol's own stream, so every interleaving applies it at
the same step.

Staleness is the one deliberate exception: a symbol silent while more than
``stale_after`` distinct newer bar times were seen is dropped from the minimum so a dead
symbol cannot stop the clock. That compares streams, so outputs are interleaving-free only
while partitions stay within ``stale_after`` bar times of each other; keep it above the
skew a consumer can see (a fetch can run hundreds of bars ahead on one partition in a replay).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

FloatMatrix = NDArray[np.float64]


@dataclass(frozen=True)
class UniverseConfig:
    symbols: tuple[str, ...] = ()  # empty: every symbol seen joins the universe
    stale_after: int = 500  # distinct newer bar times before a silent symbol is stale
    max_ffill: int = 5  # bars a gap may be forward-filled before the symbol is excluded
    keep_rows: int = 600  # complete rows in memory: > stale_after and >= window + max_ffill + 1


@dataclass(frozen=True)
class BarClose:
    symbol: str
    bar_time: datetime
    close: float
    revision: int


@dataclass(frozen=True)
class DeferredBar:
    bar: BarClose
    after: datetime  # takes effect for complete times strictly after this


@dataclass
class Observation:
    """What one bar did: persist ``stored`` (bar_closes) or ``deferred`` (pending table)."""

    stored: BarClose | None = None
    deferred: DeferredBar | None = None
    ignored: str | None = None


@dataclass
class Completed:
    bar_time: datetime
    seq: int  # 1-based number of this complete time since the start of the universe
    applied: list[DeferredBar] = field(default_factory=list)


class Universe:
    def __init__(self, config: UniverseConfig) -> None:
        self.config = config
        self.symbols: list[str] = []
        self._index: dict[str, int] = {}
        self.times: list[datetime] = []
        self._raw: FloatMatrix = np.empty((0, 0))
        self._rev: NDArray[np.int64] = np.empty((0, 0), dtype=np.int64)
        self.n_complete = 0
        self.latest: dict[str, datetime] = {}
        self.pending: dict[datetime, dict[str, BarClose]] = {}
        self.deferred: list[DeferredBar] = []
        for s in config.symbols:
            self._add_symbol(s)

    # ----- restore -------------------------------------------------------------------------
    def restore(
        self,
        *,
        n_complete: int,
        times: Sequence[datetime],
        rows: Iterable[BarClose],
        latest: dict[str, datetime],
        pending: Iterable[BarClose],
        deferred: Iterable[DeferredBar],
    ) -> None:
        """Rebuild from tables: the last complete ``times`` and their bars, and what is open."""
        self.n_complete = n_complete
        self.times = list(times)[-self.config.keep_rows :]
        for s in sorted(latest):
            self._add_symbol(s)
        self._raw = np.full((len(self.times), len(self.symbols)), np.nan)
        self._rev = np.full((len(self.times), len(self.symbols)), -1, dtype=np.int64)
        pos = {t: i for i, t in enumerate(self.times)}
        for bar in rows:
            if bar.bar_time in pos and bar.symbol in self._index:
                self._put(pos[bar.bar_time], bar)
        self.latest = dict(latest)
        self.pending = {}
        for bar in pending:
            self._add_symbol(bar.symbol)
            self.pending.setdefault(bar.bar_time, {})[bar.symbol] = bar
        self.deferred = sorted(deferred, key=_deferred_order)

    def copy(self) -> Universe:
        """An independent copy (bars are immutable, so containers are copied, not bars)."""
        other = Universe.__new__(Universe)
        other.config = self.config
        other.symbols = list(self.symbols)
        other._index = dict(self._index)
        other.times = list(self.times)
        other._raw = self._raw.copy()
        other._rev = self._rev.copy()
        other.n_complete = self.n_complete
        other.latest = dict(self.latest)
        other.pending = {t: dict(slot) for t, slot in self.pending.items()}
        other.deferred = list(self.deferred)
        return other

    # ----- streaming -----------------------------------------------------------------------
    @property
    def last_complete(self) -> datetime | None:
        return self.times[-1] if self.times else None

    def observe(self, bar: BarClose) -> Observation:
        if self.config.symbols and bar.symbol not in self._index:
            return Observation(ignored=f"{bar.symbol} is not in the configured universe")
        self._add_symbol(bar.symbol)
        latest = self.latest.get(bar.symbol)
        slot = self.pending.get(bar.bar_time)
        if latest == bar.bar_time and slot is not None and bar.symbol in slot:
            # a revision of a bar whose time is not complete yet: it simply replaces it
            if slot[bar.symbol].revision <= bar.revision:
                slot[bar.symbol] = bar
            return Observation(stored=bar)
        if latest is not None and bar.bar_time <= latest:
            d = DeferredBar(bar, latest)
            self.deferred.append(d)
            self.deferred.sort(key=_deferred_order)
            return Observation(deferred=d)
        self.latest[bar.symbol] = bar.bar_time
        last = self.last_complete
        if last is None or bar.bar_time > last:
            self.pending.setdefault(bar.bar_time, {})[bar.symbol] = bar
        else:
            # a stale symbol catching up: its bars land in rows already complete; they
            # change later screens only (the documented staleness exception)
            self._apply(bar)
        return Observation(stored=bar)

    def completion_time(self) -> datetime | None:
        """Latest bar time every non-stale universe symbol has reached (None: blocked)."""
        newer_times = sorted(self.pending)
        reached: list[datetime] = []
        for s in self.symbols:
            latest = self.latest.get(s)
            if self._newer_count(latest, newer_times) > self.config.stale_after:
                continue
            if latest is None:
                return None
            reached.append(latest)
        return min(reached) if reached else None

    def stale_symbols(self) -> list[str]:
        newer_times = sorted(self.pending)
        return [
            s
            for s in self.symbols
            if self._newer_count(self.latest.get(s), newer_times) > self.config.stale_after
        ]

    def advance(self, through: datetime | None = None) -> Completed | None:
        """Complete the next bar time if it is complete; call until it returns None.

        `through`: every input has passed this time (the runtime's event-time alignment
        released these bars), so every pending time up to it is complete, whichever symbols
        have a bar there; without it, completeness is judged from the symbols' own streams
        (and the staleness rule)."""
        until = through if through is not None else self.completion_time()
        if until is None or not self.pending:
            return None
        first = min(self.pending)
        if first > until:
            return None
        applied = [d for d in self.deferred if d.after < first]
        self.deferred = [d for d in self.deferred if d.after >= first]
        for d in applied:
            self._apply(d.bar)
        t = min(self.pending)  # a deferred gap fill may have opened an earlier time
        self._append_row(t, self.pending.pop(t))
        self.n_complete += 1
        return Completed(t, self.n_complete, applied)

    # ----- reading -------------------------------------------------------------------------
    def effective(self, rows: int | None = None) -> FloatMatrix:
        """Closes of the last ``rows`` complete times, gaps forward-filled up to max_ffill."""
        raw = self._raw
        n = raw.shape[0]
        if n == 0:
            return raw.copy()
        idx = np.where(np.isnan(raw), -1, np.arange(n)[:, None])
        last_seen = np.maximum.accumulate(idx, axis=0)
        gap = np.arange(n)[:, None] - last_seen
        ok = (last_seen >= 0) & (gap <= self.config.max_ffill)
        filled = np.where(ok, raw[np.clip(last_seen, 0, None), np.arange(raw.shape[1])], np.nan)
        return filled if rows is None else filled[-rows:]

    def column(self, symbol: str) -> int:
        return self._index[symbol]

    # ----- internals -----------------------------------------------------------------------
    def _newer_count(self, latest: datetime | None, newer_pending: list[datetime]) -> int:
        if latest is None:
            return len(self.times) + len(newer_pending)
        # older than memory: every kept row counts (keep_rows > stale_after, see config)
        in_rows = len(self.times) - bisect.bisect_right(self.times, latest)
        return in_rows + len(newer_pending) - bisect.bisect_right(newer_pending, latest)

    def _add_symbol(self, symbol: str) -> None:
        if symbol in self._index:
            return
        self._index[symbol] = len(self.symbols)
        self.symbols.append(symbol)
        rows = self._raw.shape[0]
        self._raw = np.hstack([self._raw, np.full((rows, 1), np.nan)])
        self._rev = np.hstack([self._rev, np.full((rows, 1), -1, dtype=np.int64)])

    def _append_row(self, t: datetime, bars: dict[str, BarClose]) -> None:
        row = np.full((1, len(self.symbols)), np.nan)
        rev = np.full((1, len(self.symbols)), -1, dtype=np.int64)
        self._raw = np.vstack([self._raw, row])[-self.config.keep_rows :]
        self._rev = np.vstack([self._rev, rev])[-self.config.keep_rows :]
        self.times = [*self.times, t][-self.config.keep_rows :]
        for bar in bars.values():
            self._put(len(self.times) - 1, bar)

    def _apply(self, bar: BarClose) -> None:
        i = bisect.bisect_left(self.times, bar.bar_time)
        if i < len(self.times) and self.times[i] == bar.bar_time:
            self._put(i, bar)
        elif self.last_complete is None or bar.bar_time > self.last_complete:
            slot = self.pending.setdefault(bar.bar_time, {})
            if bar.symbol not in slot or slot[bar.symbol].revision <= bar.revision:
                slot[bar.symbol] = bar

    def _put(self, row: int, bar: BarClose) -> None:
        col = self._index[bar.symbol]
        if bar.revision >= self._rev[row, col]:
            self._raw[row, col] = bar.close
            self._rev[row, col] = bar.revision


def _deferred_order(d: DeferredBar) -> tuple[datetime, str, datetime, int]:
    return (d.after, d.bar.symbol, d.bar.bar_time, d.bar.revision)
