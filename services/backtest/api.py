"""HTTP API of the backtest service: submit runs, follow them, read their reports."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.backtest import events
from services.backtest.domain.jobs import Job, JobStatus, claim_order, queue_positions
from services.backtest.domain.requests import (
    JobKind,
    RequestInvalid,
    parse_request,
    request_id_for_body,
)
from services.backtest.jobs import Units
from services.backtest.store import BacktestStore
from shared.clock import Clock
from shared.events import BacktestRequested

SymbolLookup = Callable[[], Awaitable[list[str]]]
MAX_LIST = 1000


class SymbolsUnavailable(RuntimeError):
    """The history API cannot say which symbols exist."""


class RunBody(BaseModel):
    """A backtest or walk-forward request (the request id is derived from it when absent)."""

    model_config = ConfigDict(extra="forbid")

    a: str = Field(min_length=1, examples=["MSFT"])
    b: str = Field(min_length=1, examples=["IBM"])
    start: datetime | None = None
    end: datetime | None = None
    interval: str = "1d"
    grid: dict[str, list[float]] = Field(
        default_factory=dict, examples=[{"entry_z": [1.5, 2, 2.5], "exit_z": [0.5]}]
    )
    costs: dict[str, float] = Field(
        default_factory=dict, examples=[{"commission_bps": 1, "slippage_bps": 2}]
    )
    options: dict[str, Any] = Field(default_factory=dict)
    request_id: str | None = Field(default=None, min_length=1, max_length=200)


def build_router(
    store: BacktestStore,
    units: Units,
    clock: Clock,
    symbols: SymbolLookup,
) -> APIRouter:
    router = APIRouter(tags=["backtests"])

    async def submit(body: RunBody, kind: JobKind) -> JSONResponse:
        raw = body.model_dump(mode="json", exclude={"request_id"})
        request_id = body.request_id or request_id_for_body({**raw, "kind": kind})
        request = BacktestRequested(
            request_id=request_id, kind=kind, **body.model_dump(exclude={"request_id"})
        )
        try:
            # In a thread: building a grid near its cell bound (MAX_GRID_CELLS) is most of a
            # second of CPU, which on the loop would stall every request and the consumer.
            spec = await asyncio.to_thread(parse_request, request)
        except RequestInvalid as exc:
            raise HTTPException(422, str(exc)) from exc
        try:
            known = set(await symbols())
        except SymbolsUnavailable as exc:
            raise HTTPException(503, f"cannot check symbols: {exc}") from exc
        unknown = [s for s in (spec.a, spec.b) if s not in known]
        if unknown:
            raise HTTPException(
                422,
                f"unknown symbol(s) {', '.join(unknown)}: market_data has no bars for them "
                f"(known: {', '.join(sorted(known)[:50]) or 'none'})",
            )
        now = clock.now()
        async with units() as uow:
            if await store.insert_job(uow.conn, Job.queued(spec, now, "http", now)):
                uow.emit(*events.requested(spec, body.options, now))
        job = await _job(request_id)
        return JSONResponse(
            status_code=202,
            content={
                "request_id": request_id,
                "status": job.status.value,
                "links": {
                    "status": f"/backtests/{request_id}",
                    "report": f"/backtests/{request_id}/report",
                },
            },
        )

    async def _job(request_id: str) -> Job:
        async with units() as uow:
            job = await store.get_job(uow.conn, request_id)
        if job is None:
            raise HTTPException(404, f"no backtest with request id {request_id!r}")
        return job

    @router.post("/backtests", status_code=202)
    async def post_backtest(body: RunBody) -> JSONResponse:
        return await submit(body, "backtest")

    @router.post("/walk-forwards", status_code=202)
    async def post_walk_forward(body: RunBody) -> JSONResponse:
        return await submit(body, "walk_forward")

    async def _queue() -> dict[str, int]:
        async with units() as uow:
            return queue_positions(await store.jobs_with_status(uow.conn, JobStatus.QUEUED))

    @router.get("/backtests", summary="Jobs: running, queued in run order, then recent ones")
    async def list_backtests(
        status: Annotated[JobStatus | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    ) -> dict[str, Any]:
        wanted = [status] if status is not None else list(JobStatus)
        async with units() as uow:
            found = {s: await store.jobs_with_status(uow.conn, s) for s in wanted}
        positions = queue_positions(found.get(JobStatus.QUEUED, []))
        queued = sorted(found.get(JobStatus.QUEUED, []), key=claim_order)
        ended = found.get(JobStatus.COMPLETED, []) + found.get(JobStatus.FAILED, [])
        ended.sort(key=lambda j: (j.updated_at, j.request_id), reverse=True)
        jobs = [*found.get(JobStatus.RUNNING, []), *queued, *ended][:limit]
        rows = [_job_json(j, positions.get(j.request_id)) for j in jobs]
        counts = {s.value: len(js) for s, js in found.items()}
        return {"jobs": rows, "counts": counts}

    @router.get("/backtests/{request_id}")
    async def get_backtest(request_id: str) -> dict[str, Any]:
        job = await _job(request_id)
        position = (await _queue()).get(request_id) if job.status is JobStatus.QUEUED else None
        out = _job_json(job, position) | {"metrics": None, "best_params": None}
        if job.status is JobStatus.COMPLETED:
            async with units() as uow:
                run = await store.get_run(uow.conn, request_id)
            if run is not None:
                out.update(run)
        return out

    @router.get("/backtests/{request_id}/report", response_class=HTMLResponse)
    async def get_report(request_id: str) -> HTMLResponse:
        job = await _job(request_id)
        if job.status is not JobStatus.COMPLETED:
            raise HTTPException(
                409,
                f"backtest {request_id} is {job.status.value}; the report exists once completed",
            )
        async with units() as uow:
            html = await store.get_report(uow.conn, request_id)
        if html is None:
            raise HTTPException(404, f"no report for {request_id!r}")
        return HTMLResponse(html)

    @router.get("/params/published", summary="Every published parameter set with its evidence")
    async def published() -> dict[str, Any]:
        async with units() as uow:
            rows = await store.published_params(uow.conn)
        return {"params": rows, "count": len(rows)}

    return router


def _job_json(job: Job, queue_position: int | None) -> dict[str, Any]:
    return {
        "request_id": job.request_id,
        "kind": job.kind,
        "pair_id": job.pair_id,
        "status": job.status.value,
        "progress": job.progress,
        "queue_position": queue_position,
        "attempts": job.attempts,
        "reason": job.reason,
        "source": job.source,
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
    }
