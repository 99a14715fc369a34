"""The universe clock: market returns computed only for complete bar times, in order.

Bars of different symbols arrive interleaved differently from run to run (one partition per
symbol), so nothing may depend on arrival order across symbols. A bar time T is *complete*
when every active symbol has a bar at or after T; only then is the market return at T
formed, and complete times are consumed in increasing order. The sequence of complete times
and the closes used for each are then a function of each symbol's own (ordered) stream.

Membership: with a fixed universe (benchmark symbol or a configured list) every member
blocks the clock until it is seen. Without one, symbols join when first seen, so the first
bar times depend on which symbols were seen first: configure the universe (or a benchmark)
wherever results must be reproducible from the first bar. A symbol that
holds the clock back while more than `stale_after` newer bar times are pending is dropped
(delisted, halted) and rejoins with its next bar. Dropping is the one rule that looks at
arrival order: determinism holds as long as no symbol's delivery lags the others by more
than `stale_after` bars, so keep it comfortably above a batch's worth of bars per symbol.

Corrections (revision > 0) replace a pending close; for a time already consumed they replace
the symbol's base close (the next return starts from the corrected price) and never rewrite
a published return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from core.regime import market_returns


@dataclass(frozen=True, slots=True)
class MarketPoint:
    bar_time: datetime
    value: float | None  # log return in percent; None at the first complete time


@dataclass
class UniverseClock:
    members: tuple[str, ...] | None = None  # fixed universe (sorted); None = discover
    benchmark: str | None = None
    stale_after: int = 20
    completed: datetime | None = None
    latest: dict[str, datetime] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    pending: dict[datetime, dict[str, float]] = field(default_factory=dict)
    base: dict[str, tuple[datetime, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.stale_after < 1:
            raise ValueError(f"stale_after must be >= 1, got {self.stale_after}")
        if self.benchmark is not None:
            self.members = (self.benchmark,)
        if self.members is not None:
            self.members = tuple(sorted(set(self.members)))
            if not self.members:
                raise ValueError("a fixed universe needs at least one symbol")
            if not self.active and self.completed is None and not self.latest:
                self.active = set(self.members)

    def add(self, symbol: str, bar_time: datetime, close: float) -> list[MarketPoint]:
        """Record one bar's close; returns the market points that became complete, in order."""
        if self.members is not None and symbol not in self.members:
            return []
        if self.completed is not None and bar_time <= self.completed:
            held = self.base.get(symbol)
            if held is not None and held[0] == bar_time:
                self.base[symbol] = (bar_time, close)
            if symbol not in self.latest:  # a newcomer joins from the next bar time on
                self.latest[symbol] = bar_time
                self.active.add(symbol)
            return []
        self.pending.setdefault(bar_time, {})[symbol] = close
        previous = self.latest.get(symbol)
        if previous is None or bar_time > previous:
            self.latest[symbol] = bar_time
        self.active.add(symbol)
        return self._advance()

    def add_released(self, bars: list[tuple[str, datetime, float]]) -> list[MarketPoint]:
        """Bars released by event time (contract rule 7): every input has passed them, so
        every bar time up to the latest of them is complete, whichever symbols have a bar
        there. Neither arrival order nor the staleness rule decides anything on this path."""
        through: datetime | None = None
        for symbol, bar_time, close in bars:
            if self.members is not None and symbol not in self.members:
                continue
            if self.completed is not None and bar_time <= self.completed:
                held = self.base.get(symbol)
                if held is not None and held[0] == bar_time:
                    self.base[symbol] = (bar_time, close)  # a correction of a consumed time
                continue
            self.pending.setdefault(bar_time, {})[symbol] = close
            if symbol not in self.latest or bar_time > self.latest[symbol]:
                self.latest[symbol] = bar_time
            self.active.add(symbol)
            through = bar_time if through is None or bar_time > through else through
        if through is None:
            return []
        return [self._complete(t) for t in sorted(t for t in self.pending if t <= through)]

    def _advance(self) -> list[MarketPoint]:
        points: list[MarketPoint] = []
        while self.pending:
            frontier = self._frontier()
            ready = sorted(t for t in self.pending if frontier is not None and t <= frontier)
            for t in ready:
                points.append(self._complete(t))
            if len(self.pending) <= self.stale_after:
                break
            oldest = min(self.pending)
            laggards = {s for s in self.active if s not in self.latest or self.latest[s] < oldest}
            self.active -= laggards
        return points

    def _frontier(self) -> datetime | None:
        if not self.active or any(s not in self.latest for s in self.active):
            return None
        return min(self.latest[s] for s in self.active)

    def _complete(self, bar_time: datetime) -> MarketPoint:
        closes = self.pending.pop(bar_time)
        symbols = sorted(s for s in closes if s in self.base)
        value: float | None = None
        if symbols:
            before = np.array([self.base[s][1] for s in symbols], dtype=np.float64)
            after = np.array([closes[s] for s in symbols], dtype=np.float64)
            if self.benchmark is not None:
                value = float(market_returns(np.array([before[0], after[0]]))[0])
            else:
                value = float(market_returns(np.vstack([before, after]))[0])
        for s, close in closes.items():
            self.base[s] = (bar_time, close)
        self.completed = bar_time
        return MarketPoint(bar_time, value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": list(self.members) if self.members is not None else None,
            "benchmark": self.benchmark,
            "stale_after": self.stale_after,
            "completed": self.completed.isoformat() if self.completed else None,
            "latest": {s: t.isoformat() for s, t in sorted(self.latest.items())},
            "active": sorted(self.active),
            "pending": [
                [t.isoformat(), dict(sorted(c.items()))] for t, c in sorted(self.pending.items())
            ],
            "base": {s: [t.isoformat(), c] for s, (t, c) in sorted(self.base.items())},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UniverseClock:
        members = data.get("members")
        return cls(
            members=tuple(members) if members is not None else None,
            benchmark=data.get("benchmark"),
            stale_after=int(data["stale_after"]),
            completed=_dt(data.get("completed")),
            latest={s: datetime.fromisoformat(t) for s, t in data["latest"].items()},
            active=set(data["active"]),
            pending={datetime.fromisoformat(t): dict(c) for t, c in data["pending"]},
            base={s: (datetime.fromisoformat(t), float(c)) for s, (t, c) in data["base"].items()},
        )

    def matches(self, members: tuple[str, ...] | None, benchmark: str | None) -> bool:
        """Whether stored state was built for the same universe configuration."""
        wanted = (benchmark,) if benchmark else (tuple(sorted(set(members))) if members else None)
        return self.members == wanted and self.benchmark == benchmark


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
