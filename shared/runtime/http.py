"""The HTTP app every service serves in its own event loop: health, readiness, metrics, API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.runtime.api_docs import mount_api_docs
from shared.runtime.auth import BearerAuth, declare_bearer_security
from shared.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[dict[str, bool]]]


def build_app(
    service: str,
    metrics: RuntimeMetrics,
    readiness: ReadinessCheck,
    routers: list[APIRouter],
    auth: BearerAuth,
    version: str = "0.1.0",
) -> FastAPI:
    """The service's routers behind `auth`; the ops endpoints and the docs stay open."""
    app = FastAPI(title=f"TITAN {service}", version=version, docs_url=None, redoc_url=None)
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
