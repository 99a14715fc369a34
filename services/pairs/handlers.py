"""Handlers of the pairs service: bars in, pipeline step, effects written, events emitted.

In-memory state (the pipeline) is loaded from the tables by ``load`` (the runtime's on_start,
also called before a failed batch is retried) and mutated while the same changes are written
in the batch transaction. Screen requests recorded over HTTP are picked up at the start of
the next batch, or by ``screen_request_job`` when no bars flow; both take ``lock`` and the
clock row lock, so a request is processed exactly as of the bar time it recorded. Screens
are never computed there: a step that needs one raises ScreensFirst before it changes
anything, and it is computed with no transaction or lock held (precomputed.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from services.pairs.domain.pipeline import Effects, OutEvent, Pipeline, PipelineConfig
from services.pairs.domain.screening import ScreenFn, in_process_screen
from services.pairs.domain.universe import BarClose
from services.pairs.metrics import PairsMetrics
from services.pairs.precomputed import PrecomputedScreens, ScreensFirst
from services.pairs.screen_grid import ReplicaGrid
from services.pairs.screen_pool import ScreenPool
from services.pairs.store import PairsStore, PgPairsStore, ScreenRequest
from shared.clock import Clock
from shared.events import Bar, Envelope, make_envelope
from shared.runtime.batch import BatchContext

log = logging.getLogger(__name__)

Emit = Callable[[str, Envelope[Any]], None]


class PairsApp:
    def __init__(
        self,
        config: PipelineConfig,
        screen_workers: int = 0,
        registry: CollectorRegistry | None = None,
        grid: Callable[[ScreenFn], ScreenFn] | None = None,
    ) -> None:
        self.config = config
        self.metrics = PairsMetrics(registry)
        # Screens sharded over worker processes (screen_pool.py); 0 screens in-process.
        self.screen_pool = ScreenPool(screen_workers) if screen_workers > 0 else None
        local: ScreenFn = self.screen_pool or in_process_screen
        # Or over the service's replicas (screen_grid.py), with `local` for small screens.
        self.screen_fn: ScreenFn = self.metrics.timed(local if grid is None else grid(local))
        self.grid: ReplicaGrid | None = None  # set by the composition root with the grid
        # The pipeline screens from records computed before its step's transaction.
        self.screens = PrecomputedScreens(self.screen_fn)
        self.pipeline = Pipeline(config, self.screens)
        self.lock = asyncio.Lock()
        # Clock time of the last step: while batches flow they pick up screen requests, so
        # the idle poller need not take the lock (and a connection) in their way.
        self.last_step_at: datetime | None = None

    async def load(self, store: PairsStore) -> None:
        cfg = self.config
        snap = await store.load_snapshot(cfg.interval, cfg.universe.keep_rows)
        last = snap.clock.last_complete
        pipe = Pipeline(cfg, self.screens)
        pipe.universe.restore(
            n_complete=snap.clock.n_complete,
            times=snap.times,
            rows=[b for b in snap.rows if last is not None and b.bar_time <= last],
            latest=snap.latest,
            pending=[b for b in snap.rows if last is None or b.bar_time > last],
            deferred=snap.deferred,
        )
        pipe.restore(snap.pairs, snap.trackers)
        pipe.steps = snap.clock.steps
        self.pipeline = pipe
        self.metrics.count_states(p.state for p in pipe.pairs.values())

    async def step(
        self,
        store: PairsStore,
        bars: list[BarClose],
        emit: Emit,
        *,
        producer: str,
        clock: Clock,
        released: bool = False,
    ) -> Effects:
        """One transaction's work: due screen requests first, then the bars (`released`:
        by event time, see Pipeline.on_released). Raises ScreensFirst, before it changes
        anything, when a screen it needs has not been computed (precomputed.py)."""
        cfg = self.config
        self.last_step_at = clock.now()
        row = await store.lock_clock(cfg.interval)
        if row.steps != self.pipeline.steps:
            # memory ran ahead of a transaction that did not commit: reload under the lock
            await self.load(store)
        requests = await store.pending_requests(cfg.interval)
        as_of = [r.as_of for r in requests if r.as_of is not None]
        planned = self.pipeline.planned_screens(as_of, bars, released=released)
        missing = self.screens.missing(planned)
        if missing:
            # Nothing written or changed yet: the caller rolls back, computes, steps again.
            raise ScreensFirst(self.screens, missing)
        fx = Effects()
        if planned:
            # Turning a screen's records into lifecycle steps still takes ~2 us per pair:
            # off the event loop; the caller holds ``lock``, so nothing else touches the pipeline.
            await asyncio.to_thread(self._advance, requests, bars, released, fx)
        else:
            self._advance(requests, bars, released, fx)
        self.screens.trim()
        pipe = self.pipeline
        pipe.steps += 1
        fx.clock = (pipe.universe.n_complete, pipe.universe.last_complete, pipe.steps)
        await store.apply(cfg.interval, fx)
        for ev in fx.events:
            emit(ev.topic, envelope_of(ev, producer, clock))
        self.metrics.count_states(p.state for p in pipe.pairs.values())
        return fx

    def _advance(
        self, requests: list[ScreenRequest], bars: list[BarClose], released: bool, fx: Effects
    ) -> None:
        for req in requests:
            self._run_request(req, fx)
        if released:
            self.pipeline.on_released(bars, fx)
        else:
            self.pipeline.on_bars(bars, fx)

    def close(self) -> None:
        if self.screen_pool is not None:
            self.screen_pool.close()

    def stepped_within(self, now: datetime, period: timedelta) -> bool:
        """Whether a step (which processes due screen requests first) ran in ``period``."""
        return self.last_step_at is not None and now - self.last_step_at < period

    async def handle_bars(self, items: list[Envelope[Bar]], ctx: BatchContext) -> None:
        """The route of market.bars.v1 (aligned by event time)."""
        bars = bars_of(items, self.config.interval)
        async with self.lock:
            await self.step(
                PgPairsStore(ctx.conn),
                bars,
                ctx.emit,
                producer=ctx.producer_name,
                clock=ctx.clock,
                released=True,  # the route is aligned by event time (rule 7)
            )

    async def process_requests(
        self, store: PairsStore, emit: Emit, *, producer: str, clock: Clock
    ) -> None:
        """Recorded screen requests, when no batch processes them (the caller holds `lock`)."""
        if await store.pending_requests(self.config.interval):
            await self.step(store, [], emit, producer=producer, clock=clock)

    def _run_request(self, req: ScreenRequest, fx: Effects) -> None:
        if req.as_of is None:
            fx.screens.append((req.request_id, None, "no complete bar time when requested"))
            return
        outcome = self.pipeline.screen(req.as_of, req.request_id, fx)
        log.info("screen request %s as of %s: %s", req.request_id, req.as_of, outcome)


def bars_of(items: list[Envelope[Bar]], interval: str) -> list[BarClose]:
    return [
        BarClose(e.payload.symbol, e.payload.start, e.payload.close, e.payload.revision)
        for e in items
        if e.payload.interval == interval
    ]


def envelope_of(ev: OutEvent, producer: str, clock: Clock) -> Envelope[Any]:
    return make_envelope(
        ev.payload,
        event_id=ev.event_id,
        occurred_at=ev.occurred_at,
        key=ev.key,
        producer=producer,
        produced_at=clock.now(),
    )
