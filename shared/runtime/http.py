"""The HTTP app every service serves in its own event loop: health, readiness, metrics, API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.runtime.api_docs import mount_api_docs
from shared.runtime.auth import BearerAuth, declare_bearer_security
from shared.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]
# The largest request a service reads: its API takes small JSON orders (a backtest request is
# under 1 KB), and a body is read whole before a handler sees it. TITAN_HTTP_MAX_BODY_BYTES.
DEFAULT_MAX_BODY_BYTES = 1_048_576
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class _BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware: a body over `max_bytes` is answered 413 before the app reads it all,
    whether its Content-Length says so up front or a chunked body grows past the limit."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _answer(send, 400, "Content-Length is not a byte count")
                return
            if int(declared) > self.max_bytes:
                await _answer(send, 413, self._too_large())
                return
        received = 0
        started = False

        async def limited_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracked_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except _BodyTooLarge:
            if not started:
                await _answer(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"request body over {self.max_bytes} bytes (TITAN_HTTP_MAX_BODY_BYTES)"


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(
    service: str,
    metrics: RuntimeMetrics,
    readiness: ReadinessCheck,
    routers: list[APIRouter],
    auth: BearerAuth,
    version: str = "0.1.0",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """The service's routers behind `auth`; the ops endpoints and the docs stay open; no
    request body over `max_body_bytes` is read."""
    app = FastAPI(title=f"TITAN {service}", version=version, docs_url=None, redoc_url=None)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    mount_api_docs(app)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router, dependencies=[Depends(auth)])
    declare_bearer_security(app, auth, routers)
    return app


class _QuietServer(uvicorn.Server):
    """uvicorn would install its own SIGTERM/SIGINT handlers; the service owns those."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """uvicorn in the service's own loop, with a port of 0 meaning 'pick a free one'."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_config=None, lifespan="off", access_log=False
        )
        self.server = _QuietServer(config)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
            await asyncio.sleep(0.02)
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
