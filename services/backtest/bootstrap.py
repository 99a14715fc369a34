"""The backtest service, declared: routes, job runner, API."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import APIRouter

from services.backtest.api import SymbolsUnavailable, build_router
from services.backtest.domain.jobs import RecoveryPolicy
from services.backtest.domain.requests import JobSpec
from services.backtest.handlers import BacktestHandlers
from services.backtest.jobs import AfterJob, HistoryOutage, JobRunner, RunnerSettings, make_pool
from services.backtest.settings import BacktestSettings
from services.backtest.store import BacktestStore, Conn, PgBacktestStore
from services.backtest.watermark import held_by_jobs, params_watermark, params_watermark_records
from shared.clients.market_data import HistoryClient, HistoryUnavailable
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.records import OutgoingRecord
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.topics import BACKTEST_REQUESTS, PAIRS_LIFECYCLE, PARAMS

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
        watermark_outputs=lambda _s: WatermarkOutputs((PARAMS.name,), hold=held_by_jobs),
    )


def lifecycle_handlers(store: BacktestStore, s: BacktestSettings) -> BacktestHandlers:
    costs = {
        "commission_bps": s.backtest_lifecycle_commission_bps,
        "slippage_bps": s.backtest_lifecycle_slippage_bps,
    }
    return BacktestHandlers(store, costs, json.loads(s.backtest_lifecycle_options))


def routes(ctx: Context) -> list[Route[Any]]:
    handlers = lifecycle_handlers(ctx.app, ctx.settings)
    # The lifecycle's watermark gates params.v1's: activations cause parameter sets.
    return [
        Route(BACKTEST_REQUESTS.name, handlers.on_requests),
        Route(PAIRS_LIFECYCLE.name, handlers.on_lifecycle, gates_watermark=True),
    ]


async def job_runner(ctx: Context) -> None:
    s = ctx.settings

    async def history(spec: JobSpec) -> pd.DataFrame:
        try:  # the client looks market_data up when made: it may start after us
            client = HistoryClient(s.market_data_url)
            return await client.closes([spec.a, spec.b], spec.interval, spec.start, spec.end)
        except HistoryUnavailable as exc:
            raise HistoryOutage(str(exc)) from exc

    policy = RecoveryPolicy(timedelta(seconds=s.backtest_lease_s), s.backtest_max_attempts)
    runner = JobRunner(
        ctx.app,
        ctx.units,
        history,
        ctx.clock,
        lambda: make_pool(s.backtest_workers),
        RunnerSettings(
            policy, s.backtest_poll_interval_s, s.backtest_heartbeat_s, s.backtest_history_retry_s
        ),
        after_job=await _params_watermark_after_job(ctx),
    )
    await runner.run_forever()


def api(ctx: Context) -> APIRouter:
    async def symbols() -> list[str]:
        try:
            return await HistoryClient(ctx.settings.market_data_url).symbols()
        except HistoryUnavailable as exc:
            raise SymbolsUnavailable(str(exc)) from exc

    return build_router(ctx.app, ctx.units, ctx.clock, symbols)


async def _params_watermark_after_job(ctx: Context) -> AfterJob:
    """After a job ends, the params watermark it may release (in the job's transaction)."""
    lifecycle = len(await ctx.producer.partitions_for(ctx.topics.real(PAIRS_LIFECYCLE.name)))
    params = len(await ctx.producer.partitions_for(ctx.topics.real(PARAMS.name)))

    async def records(conn: Conn) -> list[OutgoingRecord]:
        mark = await params_watermark(conn, ctx.store.group_id, ctx.topics, lifecycle)
        return [] if mark is None else list(params_watermark_records(ctx.topics, params, mark))

    return records
