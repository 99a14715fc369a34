"""HTTP query API of the pairs service (FastAPI router; OpenAPI comes from FastAPI)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query

from services.pairs.domain.adhoc import PairTestInputError, run_pair_test
from services.pairs.domain.lifecycle import PairRecord
from services.pairs.domain.stability import MAX_WINDOWS, run_pair_stability
from services.pairs.handlers import PairsApp
from services.pairs.settings import PairsSettings
from services.pairs.store import PgPairsStore, ScreenRequest
from shared.runtime.service import ServiceContext

StateFilter = Literal["candidate", "active", "degraded", "retired"]
TEST_HISTORY = 100
# 33 years of daily bars are ~8,300 rows; a client wanting fewer points downsamples.
MAX_SPREAD_ROWS = 20_000


def _pair_json(p: PairRecord) -> dict[str, Any]:
    return {
        "pair_id": p.pair_id,
        "a": p.a,
        "b": p.b,
        "state": p.state,
        "since": p.since.isoformat(),
        "consecutive_passes": p.passes,
        "strikes": p.strikes,
        "degraded_screens": p.degraded_screens,
        "screens": p.screens,
    }


def _request_json(r: ScreenRequest) -> dict[str, Any]:
    return {
        "request_id": str(r.request_id),
        "requested_at": r.requested_at.isoformat(),
        "as_of": r.as_of.isoformat() if r.as_of else None,
        "status": r.status,
        "outcome": r.outcome,
    }


def parse_when(name: str, value: str) -> datetime:
    """ISO date or datetime (UTC when naive); 400 with the parameter name otherwise."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise HTTPException(
            400, f"{name}={value!r} is not an ISO date (YYYY-MM-DD) or datetime"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_router(ctx: ServiceContext[PairsSettings, PairsApp]) -> APIRouter:
    app = ctx.app
    router = APIRouter(tags=["pairs"])
    interval = app.config.interval

    @router.get("/pairs", summary="Pairs by lifecycle state")
    async def list_pairs(
        state: StateFilter | None = None,
        latest_test: bool = Query(False, description="add each pair's most recent test"),
    ) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            store = PgPairsStore(conn)
            pairs = await store.list_pairs(state)
            tests = await store.latest_tests() if latest_test else {}
        rows = [_pair_json(p) for p in pairs]
        if latest_test:
            rows = [{**r, "latest_test": tests.get(r["pair_id"])} for r in rows]
        return {"pairs": rows}

    async def stored_closes(
        a: str, b: str, start: str, end: str
    ) -> dict[str, list[tuple[datetime, float]]]:
        t0, t1 = parse_when("start", start), parse_when("end", end)
        if t0 >= t1:
            raise HTTPException(400, f"start {start} must be before end {end}")
        async with ctx.pool.acquire() as conn:
            store = PgPairsStore(conn)
            known = await store.known_symbols(interval, [a, b])
            unknown = [s for s in (a, b) if s not in known]
            if unknown:
                raise HTTPException(
                    400, f"unknown symbol(s) {', '.join(unknown)}: no {interval} bars stored"
                )
            series: dict[str, list[tuple[datetime, float]]] = await store.closes(
                interval, [a, b], t0, t1
            )
        return series

    @router.get("/pairs/test", summary="Engle-Granger test of two symbols on stored closes")
    async def test_two(
        a: str = Query(min_length=1),
        b: str = Query(min_length=1),
        start: str = Query(description="ISO date or datetime, inclusive"),
        end: str = Query(description="ISO date or datetime, inclusive"),
    ) -> dict[str, Any]:
        series = await stored_closes(a, b, start, end)
        try:
            report = run_pair_test(a, b, series[a], series[b])
        except PairTestInputError as exc:
            raise HTTPException(400, str(exc)) from None
        return report.as_json()

    @router.get("/pairs/stability", summary="Engle-Granger test on consecutive sub-windows")
    async def stability(
        a: str = Query(min_length=1),
        b: str = Query(min_length=1),
        start: str = Query(description="ISO date or datetime, inclusive"),
        end: str = Query(description="ISO date or datetime, inclusive"),
        n_windows: int = Query(4, ge=1, le=MAX_WINDOWS),
        alpha: float = Query(0.05, gt=0.0, lt=1.0),
    ) -> dict[str, Any]:
        series = await stored_closes(a, b, start, end)
        try:
            return run_pair_stability(a, b, series[a], series[b], n_windows=n_windows, alpha=alpha)
        except PairTestInputError as exc:
            raise HTTPException(400, str(exc)) from None

    @router.get("/pairs/{pair_id}", summary="One pair: state and test history")
    async def get_pair(pair_id: str) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            store = PgPairsStore(conn)
            pairs = [p for p in await store.list_pairs(None) if p.pair_id == pair_id]
            tests = await store.pair_tests(pair_id, TEST_HISTORY)
        if not pairs and not tests:
            raise HTTPException(404, f"unknown pair {pair_id!r}")
        return {
            "pair": _pair_json(pairs[0]) if pairs else None,
            "tests": tests,
        }

    @router.get("/pairs/{pair_id}/spreads", summary="A pair's spread series, oldest first")
    async def get_spreads(
        pair_id: str, limit: int = Query(MAX_SPREAD_ROWS, ge=1, le=MAX_SPREAD_ROWS)
    ) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            store = PgPairsStore(conn)
            columns = await store.spreads(pair_id, limit)
            if not columns["bar_time"] and not await store.pair_tests(pair_id, 1):
                raise HTTPException(404, f"unknown pair {pair_id!r}")
        times = [t.isoformat() for t in columns.pop("bar_time")]
        return {"pair_id": pair_id, "bar_time": times, **columns}

    @router.post("/screen", status_code=202, summary="Rescreen as of the latest complete bar")
    async def request_screen() -> dict[str, Any]:
        async with ctx.unit_of_work() as uow:
            req = await PgPairsStore(uow.conn).add_screen_request(
                interval, uuid.uuid4(), ctx.clock.now()
            )
            if req.as_of is None:  # raising rolls the request back
                raise HTTPException(409, f"no complete {interval} bar time yet: nothing to screen")
        return _request_json(req)

    @router.get("/screen/{request_id}", summary="Status of a screen request")
    async def screen_status(request_id: uuid.UUID) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            req = await PgPairsStore(conn).screen_request(request_id)
        if req is None:
            raise HTTPException(404, f"unknown screen request {request_id}")
        return _request_json(req)

    return router
