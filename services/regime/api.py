"""Query API of the regime service: current regimes, probability history, last fit."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query

from services.regime.store import RegimeStore, TrackerRow
from shared.runtime.service import Runtime

MAX_LIMIT = 10_000


def _current(row: TrackerRow) -> dict[str, Any]:
    return {
        "scope": row.scope,
        "kind": row.kind,
        "bar_time": row.bar_time,
        "regime": row.regime,
        "regime_name": row.regime_name,
        "label": row.label,
        "probabilities": list(row.probabilities) if row.probabilities is not None else None,
        "model_version": row.model_version,
    }


def build_router(ctx: Runtime[Any], store: RegimeStore) -> APIRouter:
    router = APIRouter(tags=["regimes"])

    async def known(conn: Any, scope: str) -> None:
        if not await store.has_scope(conn, scope):
            raise HTTPException(404, f"unknown scope {scope!r}")

    @router.get("/regimes")
    async def regimes() -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            rows = await store.current(conn)
        return {"regimes": [_current(r) for r in rows]}

    @router.get("/regimes/{scope}/history")
    async def history(
        scope: Annotated[str, Path(description="`market` or a pair id such as KO~PEP")],
        start: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
        end: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> dict[str, Any]:
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise HTTPException(400, f"{name} must carry a UTC offset, got {value.isoformat()}")
        if start is not None and end is not None and end <= start:
            raise HTTPException(
                400, f"end {end.isoformat()} must be after start {start.isoformat()}"
            )
        async with ctx.pool.acquire() as conn:
            await known(conn, scope)
            rows = await store.history(conn, scope, start, end, limit)
        return {
            "scope": scope,
            "history": [
                {
                    "bar_time": r.bar_time,
                    "probabilities": list(r.probabilities),
                    "label": r.label,
                    "regime": r.regime,
                    "model_version": r.model_version,
                }
                for r in rows
            ],
        }

    @router.get("/regimes/{scope}/fit")
    async def fit(scope: str) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            await known(conn, scope)
            row = await store.last_fit(conn, scope)
        if row is None:
            raise HTTPException(404, f"scope {scope!r} has no fitted model yet")
        return {
            "scope": row.scope,
            "version": row.version,
            "fitted_at": row.fitted_at,
            "window_start": row.window_start,
            "window_end": row.window_end,
            "nobs": row.nobs,
            "llf": row.llf,
            "params": row.model.get("params"),
            "model": row.model,
        }

    return router
