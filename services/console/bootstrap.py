"""The web console, composed: a read-only gateway in front of the services' HTTP APIs.

Why a gateway and not a service of its own: the console owns no data. Everything it shows is
already served by the service that owns it (pairs, regime, signals, portfolio, backtest), so
the console keeps no tables, consumes no topic into state and has no database role; it only
calls those APIs (resolved like `titan.client`'s, shared/runtime/endpoints.py) and reshapes
their answers for the browser (downsampling long series server-side so 33 years of 20
symbols stay fast). The one stream it reads, signals.v1, is read per browser connection from
"now", or from the position a reconnecting browser sends back as Last-Event-ID, and nothing
of it is stored. It therefore has no `ServiceDefinition` (that is for services with a
database, a consumer group and an outbox) and no migrations: `build` returns the FastAPI app,
`run` serves it until SIGTERM and registers its URL in the run registry, so `titan status`
lists it and `titan console` finds it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.console.app import api_router, install_error_pages, mount_assets, page_router
from services.console.gateway import Upstream
from shared.runtime.api_token import ensure_local_api_token
from shared.runtime.auth import BearerAuth
from shared.runtime.endpoints import register_endpoint, titan_home, unregister_endpoint
from shared.runtime.http import HttpServer, build_app
from shared.runtime.metrics import RuntimeMetrics

log = logging.getLogger(__name__)
NAME = "console"


class ConsoleSettings(BaseSettings):
    """TITAN_HTTP_HOST / TITAN_HTTP_PORT like every service; TITAN_<SERVICE>_URL and the run
    registry say where the services are; TITAN_KAFKA_BOOTSTRAP and TITAN_TOPIC_PREFIX where
    signals.v1 is (the local infrastructure and the last pipeline's prefix when unset)."""

    model_config = SettingsConfigDict(env_prefix="TITAN_", extra="ignore")

    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=0, le=65535)  # 0 = pick a free port
    log_level: str = "INFO"
    api_token: SecretStr | None = None


def build(upstream: Upstream, metrics: RuntimeMetrics, auth: BearerAuth) -> FastAPI:
    async def readiness() -> dict[str, bool]:
        # Ready when serving: a service that is down shows as an error on its own page,
        # it does not take the whole console out of a load balancer.
        return {"http": True}

    app = build_app(NAME, metrics, readiness, [page_router(upstream), api_router(upstream)], auth)
    mount_assets(app)
    install_error_pages(app)
    return app


async def serve(settings: ConsoleSettings, stop: asyncio.Event, home: Path | None = None) -> None:
    token = settings.api_token
    if token is None:
        token = await asyncio.to_thread(ensure_local_api_token, home or titan_home())
    upstream = Upstream(home=home)
    app = build(upstream, RuntimeMetrics(NAME), BearerAuth(token))
    http = HttpServer(app, settings.http_host, settings.http_port)
    port = await http.start()
    url = f"http://{settings.http_host}:{port}"
    register_endpoint(NAME, url)
    log.info("console serving on %s", url)
    try:
        await stop.wait()
    finally:
        unregister_endpoint(NAME)
        upstream.closing.set()
        await http.stop()
        await upstream.aclose()


def run(stop_requested: Callable[[], bool] = lambda: False) -> int:
    """`titan run console`: serve until SIGTERM/SIGINT; 0 after a clean stop."""
    from shared.logging import configure_logging
    from shared.settings import load_or_exit

    settings = load_or_exit(ConsoleSettings)
    configure_logging(NAME, settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if stop_requested():
            return
        await serve(settings, stop)

    asyncio.run(main())
    return 0
