"""Runs the portfolio handlers as the runtime does: the routes' decoders, the event-time
join's release order, one BatchContext per release; optionally a restart (state reloaded
from the store) between releases, and inputs delivered again after they were released."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
from prometheus_client import CollectorRegistry

from core.portfolio import PortfolioConfig
from services.portfolio.handlers import PortfolioHandlers
from shared.clock import ManualClock
from shared.events import Envelope, decode
from shared.runtime.batch import BatchContext, BatchProcessor
from shared.runtime.records import ConsumedRecord, TopicNames
from shared.runtime.store import RuntimeStore
from shared.runtime.watermarks import END_OF_INPUT_US, Timed, runs, to_us
from tests.unit.portfolio_service.builders import T0
from tests.unit.portfolio_service.fake_store import InMemoryPortfolioStore

TOPICS = TopicNames("")


@dataclass
class Run:
    store: InMemoryPortfolioStore = field(default_factory=InMemoryPortfolioStore)
    emitted: list[Envelope[Any]] = field(default_factory=list)
    dead: list[tuple[ConsumedRecord, str]] = field(default_factory=list)
    # The handlers' /metrics registry (a fresh one per handlers when None: a restart makes
    # new handlers, and one registry takes each metric name once).
    registry: CollectorRegistry | None = None

    def by_topic(self) -> dict[str, dict[str, Any]]:
        """Emitted payloads by topic and event id (copies collapse, as digests count them)."""
        out: dict[str, dict[str, Any]] = {}
        for e in self.emitted:
            out.setdefault(e.event_type, {})[str(e.event_id)] = e.payload.model_dump(mode="json")
        return out


async def new_handlers(
    config: PortfolioConfig,
    store: InMemoryPortfolioStore,
    registry: CollectorRegistry | None = None,
) -> PortfolioHandlers:
    handlers = PortfolioHandlers(config, "1d", lambda _conn: store, registry)
    await handlers.load(store)
    return handlers


def _timed(
    handlers: PortfolioHandlers, inputs: dict[str, list[Envelope[Any]]], run: Run
) -> list[Timed]:
    processor = BatchProcessor(handlers.routes(), RuntimeStore("t"), TOPICS, ManualClock(T0), "t")
    records = {
        topic: [ConsumedRecord(topic, 0, n, None, e.to_bytes()) for n, e in enumerate(events)]
        for topic, events in inputs.items()
    }
    batch = processor.prepare(records, {})
    for _items, dead in batch.decoded.values():
        run.dead.extend(dead)
    return sorted(batch.timed, key=Timed.sort_key)


async def run_releases(
    config: PortfolioConfig,
    inputs: dict[str, list[Envelope[Any]]],
    *,
    watermarks: list[Any] | None = None,
    restart_every: int = 0,
    replay_after: bool = False,
    run: Run | None = None,
) -> Run:
    """Release everything at or before each watermark in turn (None: all at once); restart
    from the store every `restart_every` releases; with `replay_after`, every input is
    delivered again after each release (late copies, as an upstream retry would publish)."""
    run = run if run is not None else Run()
    handlers = await new_handlers(config, run.store, run.registry)
    timed = _timed(handlers, inputs, run)
    marks = [to_us(w) for w in watermarks] if watermarks else []
    released: set[str] = set()
    for step, mark in enumerate([*marks, END_OF_INPUT_US]):
        due = [t for t in timed if t.time_us <= mark and t.ident not in released]
        if replay_after:
            due += [t for t in timed if t.ident in released]  # copies, behind the watermark
        released.update(t.ident for t in due)
        due.sort(key=Timed.sort_key)
        ctx = BatchContext(
            cast(asyncpg.Connection, None), TOPICS, ManualClock(T0), "titan-portfolio"
        )
        by_topic = {r.topic: r for r in handlers.routes()}
        for topic, items in runs(due):
            await by_topic[topic].handle(items, ctx)
        run.emitted += [decode(r.value) for r in ctx.emitted.records]
        if restart_every and (step + 1) % restart_every == 0:
            handlers = await new_handlers(config, run.store)
    return run
