"""One contract for the store port, run on the in-memory fake and on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.backtest.bootstrap import definition
from services.backtest.domain.compute import run_job
from services.backtest.domain.jobs import Job, JobStatus, RecoveryPolicy
from services.backtest.domain.requests import parse_request
from services.backtest.store import BacktestStore, PgBacktestStore
from shared.events import BacktestRequested
from shared.runtime.service import apply_migrations, create_pool
from tests.data import msft_ibm_closes
from tests.unit.backtest_service.fakes import FakeBacktestStore

T0 = datetime(2024, 1, 2, tzinfo=UTC)


async def test_store_contract_fake() -> None:
    await check_contract(FakeBacktestStore(), None)


@pytest.mark.integration
@pytest.mark.asyncio(loop_scope="session")
async def test_store_contract_postgres(service_dsn: Callable[[str], str]) -> None:
    pool = await create_pool(service_dsn("backtest"), "backtest", 2)
    try:
        await apply_migrations(pool, "backtest", definition().migrations)
        async with pool.acquire() as conn:
            await conn.execute(
                "TRUNCATE published_params, trades, equity_curves, runs, jobs CASCADE"
            )
            await check_contract(PgBacktestStore(), conn)
    finally:
        await pool.close()


def _job(rid: str, minutes: int = 0) -> Job:
    spec = parse_request(
        BacktestRequested(request_id=rid, a="MSFT", b="IBM", grid={"entry_z": [2.0],
                          "exit_z": [0.5], "lookback": [20]})
    )  # fmt: skip
    return Job.queued(spec, T0 + timedelta(minutes=minutes), requested_at=T0)


async def check_contract(store: BacktestStore, conn: Any) -> None:
    assert await store.insert_job(conn, _job("b", 1))
    assert await store.insert_job(conn, _job("a", 0))
    assert not await store.insert_job(conn, _job("a", 5))  # idempotent
    got = await store.get_job(conn, "a")
    assert got is not None and got.job_spec() == _job("a").job_spec()
    assert got.requested_at == T0
    assert await store.get_job(conn, "nope") is None

    claimed = await store.claim_next(conn, T0)
    assert claimed is not None and claimed.request_id == "a"  # oldest first
    assert claimed.status is JobStatus.RUNNING and claimed.attempts == 1
    await store.heartbeat(conn, "a", 0.4, T0 + timedelta(seconds=5))
    await store.heartbeat(conn, "a", 0.2, T0 + timedelta(seconds=6))  # never goes back
    running = await store.get_job(conn, "a")
    assert running is not None and running.progress == pytest.approx(0.4)

    policy = RecoveryPolicy(timedelta(seconds=60), max_attempts=3)
    assert await store.recover_abandoned(conn, policy, T0 + timedelta(seconds=30)) == []
    changed = await store.recover_abandoned(conn, policy, T0 + timedelta(minutes=5))
    assert [(j.request_id, j.status) for j in changed] == [("a", JobStatus.QUEUED)]
    again = await store.claim_next(conn, T0 + timedelta(minutes=6))
    assert again is not None and again.request_id == "a" and again.attempts == 2

    result = run_job(again.job_spec(), msft_ibm_closes(300))
    await store.write_result(conn, result, T0 + timedelta(minutes=7))
    await store.write_result(conn, result, T0 + timedelta(minutes=7))  # re-run: same rows
    done = await store.get_job(conn, "a")
    assert done is not None and done.status is JobStatus.COMPLETED and done.progress == 1.0
    run = await store.get_run(conn, "a")
    assert run is not None and run["best_params"]["lookback"] == 20
    assert run["n_trades"] == result.n_trades
    assert await store.count_rows(conn, "a") == {
        "trades": len(result.trades), "equity": 300, "published": 0,
    }  # fmt: skip
    html = await store.get_report(conn, "a")
    assert html is not None and html.startswith("<!DOCTYPE html>")

    failed = await store.fail_job(conn, "b", "no data", T0)
    assert failed.status is JobStatus.FAILED
    assert await store.jobs_with_status(conn, JobStatus.QUEUED) == []
