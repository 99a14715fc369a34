"""Wiring of the backtest service: settings, routes, job runner, API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
from pydantic import Field, field_validator

from services.backtest.api import SymbolsUnavailable, build_router
from services.backtest.domain.jobs import RecoveryPolicy
from services.backtest.domain.requests import (
    KNOWN_OPTIONS,
    JobSpec,
    RequestInvalid,
    parse_walk_forward,
)
from services.backtest.handlers import BacktestHandlers
from services.backtest.jobs import AfterJob, HistoryOutage, JobRunner, RunnerSettings, make_pool
from services.backtest.store import BacktestStore, Conn, PgBacktestStore
from services.backtest.watermark import held_by_jobs, params_watermark, params_watermark_records
from shared.clients.market_data import HistoryClient, HistoryUnavailable
from shared.runtime.batch import Route
from shared.runtime.event_time import WatermarkOutputs
from shared.runtime.records import OutgoingRecord
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import BACKTEST_REQUESTS, PAIRS_LIFECYCLE, PARAMS


class BacktestSettings(ServiceSettings):
    # 2 cores on the target machine: one worker leaves a core for the consumer and the API.
    backtest_workers: int = Field(default=1, ge=1, le=2)
    backtest_max_attempts: int = Field(default=3, ge=1, le=20)
    # A running job whose heartbeat is older than this lost its runner and is re-queued.
    backtest_lease_s: float = Field(default=60.0, gt=0.0)
    backtest_heartbeat_s: float = Field(default=2.0, gt=0.0)
    backtest_poll_interval_s: float = Field(default=1.0, gt=0.0)
    backtest_history_retry_s: float = Field(default=10.0, ge=0.0)
    market_data_url: str | None = None
    backtest_lifecycle_commission_bps: float = Field(default=1.0, ge=0.0)
    backtest_lifecycle_slippage_bps: float = Field(default=2.0, ge=0.0)
    # Walk-forward options (JSON object, as in a request's `options`) for the walk-forward
    # an activation starts, e.g. '{"regimes": "none", "min_oos_trades": 5}'; checked here.
    backtest_lifecycle_options: str = "{}"

    @field_validator("backtest_lifecycle_options")
    @classmethod
    def _lifecycle_options(cls, value: str) -> str:
        try:
            options = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(options, dict):
            raise ValueError("must be a JSON object of walk-forward options")
        unknown = sorted(set(options) - set(KNOWN_OPTIONS))
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}")
        try:
            parse_walk_forward(options)
        except RequestInvalid as exc:
            raise ValueError(str(exc)) from None
        return value


SETTINGS = BacktestSettings


class RuntimeOutbox:
    """The runtime's outbox: rows in the caller's transaction, published after commit."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    async def write(self, conn: Conn, records: list[OutgoingRecord]) -> int:
        batch_no = await self.ctx.store.next_batch_no(conn)
        await self.ctx.store.write_outbox(conn, batch_no, records)
        return batch_no

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        await self.ctx.publisher.publish_batch(batch_no, records)


def _transaction(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    @contextlib.asynccontextmanager
    async def tx() -> AsyncIterator[Conn]:
        async with ctx.pool.acquire() as conn, conn.transaction():
            yield conn

    return tx


def lifecycle_handlers(store: BacktestStore, s: BacktestSettings) -> BacktestHandlers:
    costs = {
        "commission_bps": s.backtest_lifecycle_commission_bps,
        "slippage_bps": s.backtest_lifecycle_slippage_bps,
    }
    return BacktestHandlers(store, costs, json.loads(s.backtest_lifecycle_options))


def _settings(ctx: ServiceContext) -> BacktestSettings:
    settings = ctx.settings
    assert isinstance(settings, BacktestSettings)
    return settings


def _client(ctx: ServiceContext) -> HistoryClient:
    return HistoryClient(_settings(ctx).market_data_url)


def definition() -> ServiceDefinition:
    store = PgBacktestStore()

    def routes(ctx: ServiceContext) -> list[Route]:
        handlers = lifecycle_handlers(store, _settings(ctx))
        # The lifecycle's watermark gates params.v1's: activations cause parameter sets.
        return [
            Route(BACKTEST_REQUESTS.name, handlers.on_requests),
            Route(PAIRS_LIFECYCLE.name, handlers.on_lifecycle, gates_watermark=True),
        ]

    async def history(ctx: ServiceContext, spec: JobSpec) -> pd.DataFrame:
        try:
            return await _client(ctx).closes([spec.a, spec.b], spec.interval, spec.start, spec.end)
        except HistoryUnavailable as exc:
            raise HistoryOutage(str(exc)) from exc

    async def runner(ctx: ServiceContext) -> None:
        s = _settings(ctx)
        after_job = await _params_watermark_after_job(ctx)
        job_runner = JobRunner(
            store,
            _transaction(ctx),
            RuntimeOutbox(ctx),
            ctx.topics,
            lambda spec: history(ctx, spec),
            ctx.clock,
            lambda: make_pool(s.backtest_workers),
            RunnerSettings(
                policy=RecoveryPolicy(
                    lease=timedelta(seconds=s.backtest_lease_s),
                    max_attempts=s.backtest_max_attempts,
                ),
                poll_interval_s=s.backtest_poll_interval_s,
                heartbeat_interval_s=s.backtest_heartbeat_s,
                history_retry_s=s.backtest_history_retry_s,
            ),
            after_job=after_job,
        )
        await job_runner.run_forever()

    def api(ctx: ServiceContext):  # type: ignore[no-untyped-def]
        async def symbols() -> list[str]:
            try:
                return await _client(ctx).symbols()
            except HistoryUnavailable as exc:
                raise SymbolsUnavailable(str(exc)) from exc

        return build_router(
            store, _transaction(ctx), RuntimeOutbox(ctx), ctx.topics, ctx.clock, symbols
        )

    return ServiceDefinition(
        name="backtest",
        routes=routes,
        migrations=[("backtest", Path(__file__).parent / "migrations")],
        api=api,
        background=[runner],
        watermark_outputs=lambda _s: WatermarkOutputs((PARAMS.name,), hold=held_by_jobs),
    )


async def _params_watermark_after_job(ctx: ServiceContext) -> AfterJob:
    """After a job ends, the params watermark it may release (in the job's transaction)."""
    lifecycle = len(await ctx.producer.partitions_for(ctx.topics.real(PAIRS_LIFECYCLE.name)))
    params = len(await ctx.producer.partitions_for(ctx.topics.real(PARAMS.name)))

    async def records(conn: Conn) -> list[OutgoingRecord]:
        mark = await params_watermark(conn, ctx.store.group_id, ctx.topics, lifecycle)
        return [] if mark is None else list(params_watermark_records(ctx.topics, params, mark))

    return records
