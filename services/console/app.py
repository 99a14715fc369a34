"""The console's HTTP app: HTML pages, the JSON they load, live signals over SSE, assets.

Every route is a read (GET): the console changes nothing, so it needs no token of its own
(shared/runtime/auth.py lets reads through unless the deployment closes them, and then the
console's calls upstream carry this deployment's token like any `titan.client` call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console import pages, views
from services.console.gateway import Upstream
from titan.client.errors import TitanError

ASSETS_ENV = "TITAN_CONSOLE_ASSETS"
DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "deploy" / "console" / "node_modules"
STATIC = Path(__file__).parent / "static"
# Pair ids are "A~B" with ticker symbols; anything else is refused before any upstream call.
PAIR_ID = re.compile(r"^[A-Za-z0-9.\-_]{1,32}~[A-Za-z0-9.\-_]{1,32}$")
HEARTBEAT_S = 15.0
MAX_POINTS_LIMIT = 20_000


def assets_dir() -> Path:
    return Path(os.environ.get(ASSETS_ENV) or DEFAULT_ASSETS)


def check_pair_id(pair_id: str) -> str:
    if not PAIR_ID.match(pair_id):
        raise HTTPException(404, f"unknown pair {pair_id!r} (a pair id is SYMBOL~SYMBOL)")
    return pair_id


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return not request.url.path.startswith("/api/") and "application/json" not in accept


def install_error_pages(app: FastAPI) -> None:
    """HTML pages get an HTML error page with the same status, /api/ routes JSON."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = str(exc.detail)
        if _wants_html(request):
            return HTMLResponse(pages.error_page(exc.status_code, detail), exc.status_code)
        return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        if _wants_html(request):
            return HTMLResponse(pages.error_page(400, detail), 400)
        return JSONResponse({"detail": detail}, 400)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_query)


def mount_assets(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    charts = assets_dir() / "lightweight-charts" / "dist"
    if charts.is_dir():
        app.mount("/assets/lightweight-charts", StaticFiles(directory=charts), name="charts")
        return

    @app.get("/assets/lightweight-charts/{name}", include_in_schema=False)
    async def charts_missing(name: str) -> Response:
        # 503: the console works, only the charting library is not installed here.
        return Response(
            f"lightweight-charts is not installed in {charts}: run deploy/setup.sh or set "
            f"{ASSETS_ENV}",
            status_code=503,
            media_type="text/plain",
        )


def page_router(upstream: Upstream) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    simple: dict[str, Callable[[], str]] = {
        "/": pages.pairs_page,
        "/regime": pages.regime_page,
        "/signals": pages.signals_page,
        "/portfolio": pages.portfolio_page,
        "/backtests": pages.backtests_page,
    }
    for path, render in simple.items():
        router.add_api_route(path, _html(render), methods=["GET"], response_class=HTMLResponse)

    @router.get("/pairs/{pair_id}", response_class=HTMLResponse)
    async def pair_page(pair_id: str) -> HTMLResponse:
        await upstream.pair_exists(check_pair_id(pair_id))
        return HTMLResponse(pages.pair_page(pair_id))

    @router.get("/backtests/{request_id}/report", response_class=HTMLResponse)
    async def backtest_report(request_id: str) -> HTMLResponse:
        return HTMLResponse(await upstream.backtest_report(request_id))

    return router


def _html(render: Callable[[], str]) -> Callable[[], Any]:
    async def page() -> HTMLResponse:
        return HTMLResponse(render())

    return page


def api_router(upstream: Upstream) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["console"])

    @router.get("/pairs", summary="The pairs table: state, since, p-value, half-life, hedge")
    async def pairs() -> dict[str, Any]:
        return {"pairs": await upstream.pairs()}

    @router.get("/pairs/{pair_id}", summary="A pair's charts: legs, spread, z, signals, regime")
    async def pair(
        pair_id: str,
        max_points: int = Query(views.DEFAULT_MAX_POINTS, ge=4, le=MAX_POINTS_LIMIT),
    ) -> dict[str, Any]:
        return await upstream.pair(check_pair_id(pair_id), max_points)

    @router.get("/regimes", summary="Current regimes and the market's probability history")
    async def regimes() -> dict[str, Any]:
        return await upstream.regimes()

    @router.get("/signals/recent", summary="The latest stored signals, newest first")
    async def recent() -> dict[str, Any]:
        return await upstream.recent_signals()

    @router.get(
        "/signals/stream", summary="Server-Sent Events: each signal as it reaches the topic"
    )
    async def stream(request: Request) -> StreamingResponse:
        return StreamingResponse(
            signal_stream(request, upstream),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @router.get("/portfolio", summary="Positions, PnL curve (downsampled) and risk")
    async def portfolio() -> dict[str, Any]:
        return await upstream.portfolio()

    @router.get("/backtests", summary="Backtest and walk-forward jobs")
    async def backtests() -> dict[str, Any]:
        return await upstream.backtests()

    return router


async def signal_stream(request: Request, upstream: Upstream) -> AsyncIterator[str]:
    """`ready` once the subscription is positioned at the topic's end (what follows is new),
    then one `signal` event per SignalEmitted, a comment as heartbeat; an `error` event and
    the end of the stream if the broker cannot be reached (EventSource reconnects)."""
    try:
        subscription = upstream.subscribe()
        await subscription.__aenter__()  # assigned and seeked to the end of every partition
    except (TitanError, LookupError, OSError) as exc:
        yield f"event: error\ndata: {json.dumps({'detail': str(exc)})}\nretry: 5000\n\n"
        return
    try:
        yield f"event: ready\ndata: {json.dumps({'topic': subscription.topic})}\n\n"
        idle = 0.0
        while not upstream.closing.is_set() and not await request.is_disconnected():
            signals = await subscription.poll(500, timeout=1.0)
            for signal in signals:
                yield f"event: signal\ndata: {signal.model_dump_json()}\n\n"
            idle = 0.0 if signals else idle + 1.0
            if idle >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                idle = 0.0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(subscription.close())
