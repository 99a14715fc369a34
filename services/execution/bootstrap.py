"""The execution adapter, declared: route, placement and reconciliation loops, HTTP API."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter

from services.execution.api import build_router
from services.execution.broker import AlpacaBroker
from services.execution.desk import DeskSettings, ExecutionMetrics, OrderDesk, every
from services.execution.handlers import ExecutionHandlers
from services.execution.settings import ExecutionSettings
from services.execution.store import ExecutionStore, PostgresExecutionStore
from shared.runtime.service import Runtime, ServiceContext, ServiceDefinition

__all__ = ["ExecutionSettings", "definition"]
MIGRATIONS = Path(__file__).parent / "migrations"


class ExecutionApp:
    """The adapter's state: its handlers, and the desk that talks to the broker."""

    def __init__(self, rt: Runtime[ExecutionSettings]) -> None:
        s = rt.settings
        self.handlers = ExecutionHandlers(PostgresExecutionStore)
        self.broker = AlpacaBroker(
            s.execution_broker_url, s.credentials(), s.execution_request_timeout_s
        )

        @asynccontextmanager
        async def open_store() -> AsyncIterator[ExecutionStore]:
            # One short transaction per state change; never held across a broker call.
            async with rt.transaction() as conn:
                yield PostgresExecutionStore(conn)

        self.open_store = open_store
        desk_settings = DeskSettings(
            batch_size=s.execution_batch_size,
            lease_s=s.claim_lease_s,
            backoff_initial_s=s.execution_backoff_initial_s,
            backoff_max_s=s.execution_backoff_max_s,
            max_order_age_s=s.execution_max_order_age_s,
        )
        self.desk = OrderDesk(
            self.broker,
            open_store,
            ExecutionMetrics(rt.metrics.registry),
            desk_settings,
            now=rt.clock.now,
        )


Context = ServiceContext[ExecutionSettings, ExecutionApp]


def definition() -> ServiceDefinition[ExecutionSettings, ExecutionApp]:
    return ServiceDefinition(
        name="execution",
        settings=ExecutionSettings,
        build_app=ExecutionApp,
        routes=lambda ctx: ctx.app.handlers.routes(),
        migrations=[("execution", MIGRATIONS)],
        api=api,
        background=[placement_loop, reconciliation_loop],
    )


async def placement_loop(ctx: Context) -> None:
    try:
        await every(ctx.settings.execution_poll_interval_s, "placement", ctx.app.desk.place_due)
    finally:
        # The loops are cancelled at shutdown; the client goes with the placement loop.
        with contextlib.suppress(Exception):
            await ctx.app.broker.close()


async def reconciliation_loop(ctx: Context) -> None:
    interval = ctx.settings.execution_reconcile_interval_s
    await every(interval, "reconciliation", ctx.app.desk.reconcile_open)


def api(ctx: Context) -> APIRouter:
    return build_router(ctx.app.open_store)
