"""The portfolio book as the service drives it from released events (no I/O).

The runtime releases events in one total order by event time (contract rule 7), with the
routes ranked bars, lifecycle, signals. A bar's event time is its end, a signal's and a
lifecycle change's the bar start they were decided at, so the bars starting at s (released
at s + interval) come after every lifecycle change and signal of s and before those of the
next bar: exactly the order `PortfolioBook.on_bar` asks for. Every bar of one start shares
one event time and is released in one batch (a watermark passes them all at once), so each
bar time is given to the book once, with every symbol's close.

What the order cannot rule out is input behind the book: a copy of an event released again
after a producer's retry, or a bar a bounded wait gave up on. Such input (a time at or
before the last bar given) is counted and ignored, and a signal already given is not given
twice: the book's output is then a function of the input events, however delivered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.portfolio import BarOutcome, BookState, PairSignal, PortfolioBook, PortfolioConfig


@dataclass
class Progress:
    """What the service remembers besides the book: how far it got and what it was told."""

    last_bar_time: datetime | None = None
    # Signals given to the book and not yet acted on (their bar is still to come): id -> time.
    pending_signals: dict[str, datetime] = field(default_factory=dict)
    bars: int = 0
    late_events: int = 0

    def pending_json(self) -> str:
        return json.dumps({k: v.isoformat() for k, v in sorted(self.pending_signals.items())})

    @staticmethod
    def pending_from_json(raw: str) -> dict[str, datetime]:
        return {k: datetime.fromisoformat(v) for k, v in json.loads(raw).items()}


class Desk:
    def __init__(
        self,
        config: PortfolioConfig,
        state: BookState | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.config = config
        self.book = PortfolioBook(config, state)
        self.progress = progress if progress is not None else Progress()

    def _behind(self, when: datetime) -> bool:
        last = self.progress.last_bar_time
        if last is not None and when <= last:
            self.progress.late_events += 1
            return True
        return False

    def on_lifecycle(self, changes: Iterable[tuple[str, str, datetime]]) -> None:
        for pair_id, state, as_of in changes:
            if not self._behind(as_of):
                self.book.on_lifecycle(pair_id, state, as_of)

    def on_signals(self, signals: Iterable[PairSignal]) -> None:
        pending = self.progress.pending_signals
        for signal in signals:
            if self._behind(signal.bar_time) or signal.signal_id in pending:
                continue
            pending[signal.signal_id] = signal.bar_time
            self.book.on_signal(signal)

    def on_bars(self, closes: Mapping[datetime, Mapping[str, float]]) -> list[BarOutcome]:
        """One `on_bar` per bar time, oldest first; bar times already marked are ignored."""
        outcomes: list[BarOutcome] = []
        progress = self.progress
        for bar_time in sorted(closes):
            if self._behind(bar_time):
                continue
            outcomes.append(self.book.on_bar(bar_time, dict(closes[bar_time])))
            progress.last_bar_time = bar_time
            progress.bars += 1
            progress.pending_signals = {
                k: t for k, t in progress.pending_signals.items() if t > bar_time
            }
        return outcomes
