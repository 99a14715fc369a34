"""Handlers of the portfolio service: lifecycle, signals and bars in, the book stepped, its
state, orders, rejections, fills and marks written, orders and marks emitted.

Every handler runs inside the batch transaction. The desk (book and progress) is mutated
while the same state is written; if the batch fails, the runtime calls `load` again (also
when this replica takes the partitions over from another), so nothing of a rolled-back
attempt survives in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import CollectorRegistry

from core.portfolio import BarOutcome, BookState, PairSignal, PortfolioConfig
from services.portfolio.convert import latest_closes, lifecycle_change, outcome_events, pair_signal
from services.portfolio.desk import Desk
from services.portfolio.metrics import PortfolioMetrics
from services.portfolio.store import PortfolioStore, StoredBook
from shared.events import Bar, Envelope
from shared.runtime.batch import BatchContext, Decoder, Route, envelope_decoder
from shared.runtime.inputs import bar_order, bars_decoder
from shared.topics import MARKET_BARS, PAIRS_LIFECYCLE, SIGNALS

log = logging.getLogger(__name__)
StoreFor = Callable[[asyncpg.Connection], PortfolioStore]
Lifecycle = tuple[str, str, datetime]
# Changes of one pair at one screen go forward: candidate, active, degraded, retired.
_LIFECYCLE_RANK = {"candidate": 0, "active": 1, "degraded": 2, "retired": 3}


def lifecycle_order(item: Lifecycle) -> tuple[datetime, tuple[Any, ...]]:
    pair_id, state, as_of = item
    return as_of, (pair_id, _LIFECYCLE_RANK.get(state, 9))


def signal_order(signal: PairSignal) -> tuple[datetime, tuple[Any, ...]]:
    return signal.bar_time, (signal.pair_id, signal.signal_id)


def domain_decoder(contract_topic: str, convert: Callable[[Any], Any]) -> Decoder[Any]:
    return envelope_decoder(contract_topic, convert, rejected_by="the portfolio service")


class PortfolioHandlers:
    """Holds the desk (rebuilt by `load`) and handles the three input topics."""

    def __init__(
        self,
        config: PortfolioConfig,
        interval: str,
        store_for: StoreFor,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.interval = interval
        self.store_for = store_for
        self.metrics = PortfolioMetrics(config.capital, registry)
        self._desk: Desk | None = None

    @property
    def portfolio_id(self) -> str:
        return self.config.portfolio_id

    @property
    def desk(self) -> Desk:
        if self._desk is None:
            raise RuntimeError("portfolio book used before its state was loaded (on_start)")
        return self._desk

    async def load(self, store: PortfolioStore) -> None:
        stored = await store.load_book(self.portfolio_id)
        if stored is None:
            self._desk = Desk(self.config)
            self.metrics.restore(None)
        else:
            state = BookState.from_json(stored.state_json)
            self._desk = Desk(self.config, state, stored.progress)
            self.metrics.restore(state)

    def routes(self) -> list[Route[Any]]:
        """All three aligned by event time, bars ranked first: a bar's event time is its end,
        so at one event time the bars that close there are marked before the lifecycle
        changes and signals decided at that bar start (desk.py)."""
        return [
            Route(MARKET_BARS.name, self.on_bars, bars_decoder(self.interval), aligned=bar_order),
            Route(
                PAIRS_LIFECYCLE.name,
                self.on_lifecycle,
                domain_decoder(PAIRS_LIFECYCLE.name, lifecycle_change),
                aligned=lifecycle_order,
            ),
            Route(
                SIGNALS.name,
                self.on_signals,
                domain_decoder(SIGNALS.name, pair_signal),
                aligned=signal_order,
            ),
        ]

    async def on_lifecycle(self, items: list[Lifecycle], ctx: BatchContext) -> None:
        self.desk.on_lifecycle(items)
        await self._save(self.store_for(ctx.conn))

    async def on_signals(self, items: list[PairSignal], ctx: BatchContext) -> None:
        self.desk.on_signals(items)
        await self._save(self.store_for(ctx.conn))

    async def on_bars(self, items: list[Envelope[Bar]], ctx: BatchContext) -> None:
        outcomes = self.desk.on_bars(latest_closes(items, self.interval))
        store = self.store_for(ctx.conn)
        await store.record(self.portfolio_id, outcomes)
        await self._save(store)
        self._emit(outcomes, ctx)
        # A batch that fails after this is handled again: its orders are then counted twice
        # on this process's counters (observability only; the book and its events are not).
        self.metrics.observe(outcomes)

    async def _save(self, store: PortfolioStore) -> None:
        desk = self.desk
        await store.save_book(self.portfolio_id, StoredBook(desk.book.state().to_json(),
                                                            desk.progress))  # fmt: skip

    def _emit(self, outcomes: list[BarOutcome], ctx: BatchContext) -> None:
        for outcome in outcomes:
            for ev in outcome_events(self.portfolio_id, outcome):
                ctx.emit_event(
                    ev.topic, ev.payload, event_id=ev.event_id, occurred_at=ev.occurred_at,
                    key=ev.key,
                )  # fmt: skip
