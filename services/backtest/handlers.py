"""Batch handlers: a request or an activated pair becomes a queued job (nothing runs here).

Runs happen in the job runner's process pool; the handler only records the job in the
batch's transaction, so the consumer never waits for a backtest. An invalid request is
recorded as a failed job and answered with BacktestFailed in the same transaction.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.backtest import events
from services.backtest.domain.jobs import Job
from services.backtest.domain.requests import (
    RequestInvalid,
    parse_request,
    request_id_for_pair,
)
from services.backtest.store import BacktestStore
from shared.events import BacktestRequested, Envelope, PairStateChanged, pair_id
from shared.runtime.batch import BatchContext


class BacktestHandlers:
    def __init__(
        self,
        store: BacktestStore,
        lifecycle_costs: dict[str, float],
        lifecycle_options: dict[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.lifecycle_costs = lifecycle_costs
        # tuned on the history the pair has, however short, unless the settings say otherwise
        self.walk_forward_options = {"fit_to_history": True, **(lifecycle_options or {})}

    async def _record(
        self, ctx: BatchContext, request: BacktestRequested, source: str, cause_time: Any
    ) -> None:
        now = ctx.clock.now()
        try:
            # Off the event loop: a grid near its cell bound takes most of a second to build.
            spec = await asyncio.to_thread(parse_request, request)
        except RequestInvalid as exc:
            job = Job.rejected(
                request.request_id or "(none)",
                request.kind,
                pair_id(request.a, request.b),
                f"invalid request: {exc}",
                now,
                source,
                cause_time,
            )
            if await self.store.insert_job(ctx.conn, job):
                topic, envelope = events.failed(job, job.reason or "invalid", now)
                ctx.emit(topic, envelope)
            return
        await self.store.insert_job(ctx.conn, Job.queued(spec, now, source, cause_time))

    async def on_requests(
        self, items: list[Envelope[BacktestRequested]], ctx: BatchContext
    ) -> None:
        for envelope in items:
            await self._record(ctx, envelope.payload, "request", envelope.occurred_at)

    async def on_lifecycle(
        self, items: list[Envelope[PairStateChanged]], ctx: BatchContext
    ) -> None:
        """A pair turning active is backtested and walk-forward tuned, data up to as_of."""
        for envelope in items:
            for request in self.lifecycle_requests(envelope.payload):
                await self._record(ctx, request, "lifecycle", envelope.payload.as_of)

    def lifecycle_requests(self, change: PairStateChanged) -> list[BacktestRequested]:
        """The jobs a lifecycle change starts: none, or a backtest and a walk-forward with
        data up to its as_of (also used by `titan demo --offline --with-backtest`)."""
        if change.to_state != "active":
            return []
        return [
            BacktestRequested(
                request_id=request_id_for_pair(change.pair_id, change.as_of, kind),
                kind=kind,
                a=change.a,
                b=change.b,
                end=change.as_of,
                costs=self.lifecycle_costs,
                options=self.walk_forward_options if kind == "walk_forward" else {},
            )
            for kind in ("backtest", "walk_forward")
        ]
