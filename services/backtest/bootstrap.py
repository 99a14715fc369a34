"""The backtest service, declared: routes, job runner, API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from services.backtest.api import SymbolsUnavailable, build_router
from services.backtest.handlers import BacktestHandlers
from services.backtest.jobs import JobRunner, make_pool, market_data_history
from services.backtest.settings import BacktestSettings
from services.backtest.store import BacktestStore, PgBacktestStore
from services.backtest.watermark import held_by_jobs, params_after_job
from shared.clients.market_data import HistoryClient, HistoryUnavailable
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.topics import BACKTEST_REQUESTS, PAIRS_LIFECYCLE, PARAMS, co_partitioned_with

__all__ = ["BacktestSettings", "definition", "lifecycle_handlers"]
Context = ServiceContext[BacktestSettings, BacktestStore]


def definition() -> ServiceDefinition[BacktestSettings, BacktestStore]:
    return ServiceDefinition(
        name="backtest",
        settings=BacktestSettings,
        build_app=lambda _rt: PgBacktestStore(),
        routes=routes,
        migrations=[("backtest", Path(__file__).parent / "migrations")],
        api=api,
        background=[job_runner],
        # Parameters go to their pair's lifecycle partition (signals joins them there).
        watermark_outputs=lambda _s: WatermarkOutputs(
            (PARAMS.name,), hold=held_by_jobs, co_partitioned=True
        ),
        co_partitioned_topics=co_partitioned_with(PARAMS.name),
    )


def lifecycle_handlers(store: BacktestStore, s: BacktestSettings) -> BacktestHandlers:
    return BacktestHandlers(store, s.lifecycle_costs(), json.loads(s.backtest_lifecycle_options))


def routes(ctx: Context) -> list[Route[Any]]:
    handlers = lifecycle_handlers(ctx.app, ctx.settings)
    # The lifecycle's watermark gates params.v1's: activations cause parameter sets.
    return [
        Route(BACKTEST_REQUESTS.name, handlers.on_requests),
        Route(PAIRS_LIFECYCLE.name, handlers.on_lifecycle, gates_watermark=True),
    ]


async def job_runner(ctx: Context) -> None:
    s = ctx.settings
    runner = JobRunner(
        ctx.app,
        ctx.units,
        market_data_history(s.market_data_url, s.api_token),
        ctx.clock,
        lambda: make_pool(s.backtest_workers),
        s.runner_settings(),
        after_job=await params_after_job(ctx.producer, ctx.topics, ctx.store.group_id),
    )
    await runner.run_forever()


def api(ctx: Context) -> APIRouter:
    async def symbols() -> list[str]:
        try:
            s = ctx.settings
            return await HistoryClient(s.market_data_url, api_token=s.api_token).symbols()
        except HistoryUnavailable as exc:
            raise SymbolsUnavailable(str(exc)) from exc

    return build_router(ctx.app, ctx.units, ctx.clock, symbols)
