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

from fastapi import APIRouter, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console import pages, views
from services.console.gateway import Upstream
from titan.client.errors import TitanError
from titan.client.signals import StreamPosition, Subscription, format_position, parse_position

ASSETS_ENV = "TITAN_CONSOLE_ASSETS"
DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "deploy" / "console" / "node_modules"
STATIC = Path(__file__).parent / "static"
# Pair ids are "A~B" with ticker symbols; anything else is refused before any upstream call.
PAIR_ID = re.compile(r"^[A-Za-z0-9.\-_]{1,32}~[A-Za-z0-9.\-_]{1,32}$")
HEARTBEAT_S = 15.0
# Longer than any position a topic's partitions give (11 chars a partition); cut in errors.
SHOWN_ID_CHARS = 200
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
        "/signals/stream",
        summary="Server-Sent Events: each signal as it reaches the topic (resume with "
        "Last-Event-ID)",
    )
    async def stream(
        request: Request,
        last_event_id: str | None = Query(
            None, description="an event id of this stream (0:12,1:40); wins over the header"
        ),
        last_event_id_header: str | None = Header(None, alias="Last-Event-ID"),
    ) -> StreamingResponse:
        resume = resume_position(last_event_id_header, last_event_id)
        return StreamingResponse(
            signal_stream(request, upstream, resume),
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


def resume_position(header: str | None, query: str | None) -> dict[int, int] | None:
    """Where a reconnecting EventSource left off: `?last_event_id=` wins over the
    Last-Event-ID header (as on the signals service); blank or absent means from now on."""
    source, text = (
        ("last_event_id", query) if query and query.strip() else ("Last-Event-ID", header)
    )
    if text is None or not text.strip():
        return None
    try:
        return parse_position(text)
    except ValueError as exc:
        shown = text if len(text) <= SHOWN_ID_CHARS else text[:SHOWN_ID_CHARS] + "..."
        raise HTTPException(
            400, f"{source} {shown!r} is not an event id of this stream: {exc}"
        ) from None


def sse_event(
    event: str, data: str, event_id: str | None = None, retry_ms: int | None = None
) -> str:
    # The id line sets the browser's Last-Event-ID, which it sends back when it reconnects;
    # retry, how long it waits before that.
    head = "" if event_id is None else f"id: {event_id}\n"
    tail = "" if retry_ms is None else f"retry: {retry_ms}\n"
    return f"{head}event: {event}\ndata: {data}\n{tail}\n"


async def _positioned(
    upstream: Upstream, resume: StreamPosition | None
) -> tuple[Subscription, str]:
    """A started subscription and its starting position as an event id."""
    subscription = upstream.subscribe(resume)
    try:
        await subscription.__aenter__()  # assigned and seeked on every partition
        return subscription, format_position(await subscription.position())
    except BaseException:
        with contextlib.suppress(Exception):
            await asyncio.shield(subscription.close())
        raise


async def signal_stream(
    request: Request, upstream: Upstream, resume: StreamPosition | None = None
) -> AsyncIterator[str]:
    """`ready` once the subscription is positioned (at `resume`, else at the topic's end: what
    follows is new), then one `signal` event per SignalEmitted, a comment as heartbeat; an
    `error` event and the end of the stream if the broker cannot be reached (EventSource
    reconnects).

    Event ids are stream positions (`0:12,1:40`, partition:next offset): `ready` carries the
    start, the last signal of each polled batch the position after the whole batch, so the
    Last-Event-ID of a reconnect resumes right after what the browser got. A drop inside a
    batch sends that batch again; the page skips signal ids it already shows."""
    try:
        subscription, start = await _positioned(upstream, resume)
    except (TitanError, LookupError, OSError) as exc:
        yield sse_event("error", json.dumps({"detail": str(exc)}), retry_ms=5000)
        return
    try:
        ready = json.dumps({"topic": subscription.topic, "position": start})
        yield sse_event("ready", ready, start)
        idle = 0.0
        while not upstream.closing.is_set() and not await request.is_disconnected():
            signals = await subscription.poll(500, timeout=1.0)
            if signals:
                after = format_position(await subscription.position())
                for n, signal in enumerate(signals, 1):
                    last = n == len(signals)
                    yield sse_event("signal", signal.model_dump_json(), after if last else None)
            idle = 0.0 if signals else idle + 1.0
            if idle >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                idle = 0.0
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(subscription.close())
