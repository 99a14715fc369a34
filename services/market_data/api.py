"""History API of market_data: symbols, and bars by symbols, interval and time range."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from fastapi.responses import JSONResponse

from services.market_data.store import MarketDataStore
from shared.events.market import INTERVAL_SECONDS, SYMBOL_PATTERN
from shared.runtime.service import Runtime

MAX_LIMIT = 10_000
BAR_FIELDS = (
    "symbol",
    "interval",
    "start",
    "end",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trade_count",
    "revision",
)


def _iso(value: Any) -> str:
    """What jsonable_encoder makes of the non-JSON values of a bar row (its times)."""
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _cursor_encode(symbol: str, start: datetime) -> str:
    return base64.urlsafe_b64encode(json.dumps([symbol, start.isoformat()]).encode()).decode()


def _cursor_decode(cursor: str) -> tuple[str, datetime]:
    try:
        symbol, start = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return str(symbol), datetime.fromisoformat(start)
    except (ValueError, TypeError) as exc:
        raise HTTPException(400, f"invalid cursor {cursor!r}: {exc}") from exc


def build_router(ctx: Runtime[Any], store: MarketDataStore) -> APIRouter:
    router = APIRouter(tags=["history"])

    @router.get("/symbols")
    async def symbols() -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            rows = await store.symbols(conn)
        return {"symbols": sorted({str(r["symbol"]) for r in rows}), "series": rows}

    @router.get("/bars", response_model=None, response_class=JSONResponse)
    async def bars(
        symbols: Annotated[str, Query(description="comma-separated symbols, e.g. KO,PEP")],
        interval: Annotated[str, Query()] = "1d",
        start: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
        end: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 5000,
        cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
        format: Annotated[Literal["json", "csv"], Query()] = "json",
    ) -> Response | dict[str, Any]:
        wanted = [s.strip() for s in symbols.split(",") if s.strip()]
        if not wanted:
            raise HTTPException(400, "symbols must name at least one symbol")
        bad = [s for s in wanted if not SYMBOL_PATTERN.match(s)]
        if bad:
            raise HTTPException(400, f"malformed symbols: {', '.join(bad)}")
        if interval not in INTERVAL_SECONDS:
            raise HTTPException(
                400, f"unknown interval {interval!r}; use one of {list(INTERVAL_SECONDS)}"
            )
        if start is not None and end is not None and end <= start:
            raise HTTPException(
                400, f"end {end.isoformat()} must be after start {start.isoformat()}"
            )
        after = _cursor_decode(cursor) if cursor else None
        async with ctx.pool.acquire() as conn:
            known = await store.known_symbols(conn, wanted, interval)
            # Named in the answer: an empty page alone reads as "no bars in that range" for
            # a typo. Not a 404: a symbol becomes known as its first bar closes, and clients
            # poll a range while the data arrives.
            unknown = sorted(set(wanted) - known)
            rows = await store.bars(conn, wanted, interval, start, end, after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _cursor_encode(rows[-1]["symbol"], rows[-1]["start"]) if more else None
        if format == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(BAR_FIELDS)
            for r in rows:
                writer.writerow(
                    [r[f].isoformat() if isinstance(r[f], datetime) else r[f] for f in BAR_FIELDS]
                )
            headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
            if unknown:
                headers["X-Unknown-Symbols"] = ",".join(unknown)
            return Response(buf.getvalue(), media_type="text/csv", headers=headers)
        body = {
            "bars": [{f: r[f] for f in BAR_FIELDS} for r in rows],
            "next_cursor": next_cursor,
            "unknown_symbols": unknown,
        }
        # Serialised here, as Starlette's JSONResponse would, without FastAPI's generic
        # jsonable_encoder walk over every value: a third of the CPU of a 500-bar page, which
        # is what /bars spent its time on under 200 clients (bench/http_load.py).
        text = json.dumps(
            body, default=_iso, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
        return Response(text, media_type="application/json")

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            late = await store.late_count(conn)
            ticks = await conn.fetchval("SELECT count(*) FROM ticks")
        return {"ticks": ticks, "late_ticks": late}

    return router
