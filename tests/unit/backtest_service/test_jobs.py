"""Job lifecycle: handler records, runner runs, restart recovery; on the in-memory store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from services.backtest.domain.jobs import Job, JobStatus, RecoveryPolicy
from services.backtest.domain.requests import JobSpec, parse_request
from services.backtest.handlers import BacktestHandlers
from services.backtest.jobs import HistoryOutage, JobRunner, RunnerSettings
from shared.clock import ManualClock
from shared.events import BacktestRequested, PairStateChanged, derive_id, make_envelope
from shared.runtime.batch import BatchContext
from shared.runtime.records import TopicNames
from shared.runtime.unit_of_work import UnitsOfWork
from tests.data import msft_ibm_closes
from tests.unit.backtest_service.fakes import (
    FakeBacktestStore,
    FakeOutbox,
    no_transaction,
    thread_pool,
)

T0 = datetime(2024, 1, 2, tzinfo=UTC)
GRID = {"entry_z": [1.5, 2.0], "exit_z": [0.5], "lookback": [20]}


def _envelope(payload: Any, key: str) -> Any:
    return make_envelope(
        payload, event_id=derive_id("t", key), occurred_at=T0, key=key, producer="t",
        produced_at=T0,
    )  # fmt: skip


def _ctx(clock: ManualClock) -> BatchContext:
    return BatchContext(conn=None, topics=TopicNames("p."), clock=clock, producer_name="t")


def _runner(
    store: FakeBacktestStore, outbox: FakeOutbox, clock: ManualClock, closes: pd.DataFrame | None
) -> JobRunner:
    async def history(spec: JobSpec) -> pd.DataFrame:
        if closes is None:
            raise HistoryOutage("market_data down")
        return closes

    return JobRunner(
        store, UnitsOfWork(no_transaction, outbox, TopicNames("p."), "t", clock), history, clock,
        thread_pool,
        RunnerSettings(RecoveryPolicy(timedelta(seconds=60), 2), 0.01, 0.01, 0.0),
    )  # fmt: skip


async def test_request_is_queued_then_completed_with_events() -> None:
    clock, store, outbox = ManualClock(T0), FakeBacktestStore(), FakeOutbox()
    ctx = _ctx(clock)
    request = BacktestRequested(request_id="r1", a="MSFT", b="IBM", grid=GRID)
    await BacktestHandlers(store, {}).on_requests([_envelope(request, "r1")] * 2, ctx)
    assert [j.status for j in store.jobs.values()] == [JobStatus.QUEUED]  # duplicate: one job
    assert ctx.emitted.records == []
    runner = _runner(store, outbox, clock, msft_ibm_closes(400))
    try:
        assert await runner.run_once()
        assert not await runner.run_once()
    finally:
        runner.close()
    job = store.jobs["r1"]
    assert job.status is JobStatus.COMPLETED and job.progress == 1.0 and job.attempts == 1
    completed = outbox.events("backtest.results.v1")
    assert [e["event_type"] for e in completed] == ["BacktestCompleted"]
    assert completed[0]["payload"]["n_combinations"] == 2
    assert completed[0]["occurred_at"].startswith("2024-01-02")
    counts = await store.count_rows(None, "r1")
    assert counts["equity"] == 400 and counts["trades"] == completed[0]["payload"]["n_trades"]


async def test_invalid_request_fails_at_once_and_never_runs() -> None:
    clock, store = ManualClock(T0), FakeBacktestStore()
    ctx = _ctx(clock)
    bad = BacktestRequested(request_id="bad", a="MSFT", b="IBM", grid={"lookback": [1]})
    await BacktestHandlers(store, {}).on_requests([_envelope(bad, "bad")], ctx)
    assert store.jobs["bad"].status is JobStatus.FAILED
    assert "grid.lookback" in (store.jobs["bad"].reason or "")
    assert [r.topic for r in ctx.emitted.records] == ["p.backtest.results.v1"]


async def test_activated_pair_gets_a_backtest_and_a_walk_forward_job() -> None:
    clock, store = ManualClock(T0), FakeBacktestStore()
    change = PairStateChanged(
        pair_id="MSFT~IBM", a="MSFT", b="IBM", from_state="candidate", to_state="active",
        reason="cointegrated", as_of=datetime(2013, 3, 1, tzinfo=UTC),
    )  # fmt: skip
    retired = change.model_copy(update={"to_state": "retired"})
    handlers = BacktestHandlers(store, {"commission_bps": 1.0})
    await handlers.on_lifecycle([_envelope(change, "a"), _envelope(retired, "b")], _ctx(clock))
    await handlers.on_lifecycle([_envelope(change, "a")], _ctx(clock))  # replay: same ids
    assert sorted(j.kind for j in store.jobs.values()) == ["backtest", "walk_forward"]
    for job in store.jobs.values():
        spec = job.job_spec()
        assert spec.end == change.as_of and spec.costs["commission_bps"] == 1.0


def test_recovery_policy_requeues_then_fails_abandoned_jobs() -> None:
    spec = parse_request(BacktestRequested(request_id="r", a="A", b="B"))
    policy = RecoveryPolicy(timedelta(seconds=60), max_attempts=2)
    running = Job.queued(spec, T0).started(T0)
    assert policy.recover(running, T0 + timedelta(seconds=30)) is None  # runner still alive
    requeued = policy.recover(running, T0 + timedelta(seconds=61))
    assert requeued is not None and requeued.status is JobStatus.QUEUED
    again = requeued.started(T0 + timedelta(seconds=70))
    failed = policy.recover(again, T0 + timedelta(seconds=200))
    assert failed is not None and failed.status is JobStatus.FAILED
    assert "after 2 attempts" in (failed.reason or "")
    assert policy.recover(Job.queued(spec, T0), T0 + timedelta(days=1)) is None


async def test_restart_requeues_a_job_left_running_and_completes_it() -> None:
    clock, store, outbox = ManualClock(T0), FakeBacktestStore(), FakeOutbox()
    spec = parse_request(BacktestRequested(request_id="r2", a="MSFT", b="IBM", grid=GRID))
    await store.insert_job(None, Job.queued(spec, T0))
    claimed = await store.claim_next(None, T0)  # a runner took it, then was SIGKILLed
    assert claimed is not None and claimed.status is JobStatus.RUNNING
    clock.advance(timedelta(seconds=120))
    runner = _runner(store, outbox, clock, msft_ibm_closes(300))
    try:
        assert await runner.run_once()
    finally:
        runner.close()
    job = store.jobs["r2"]
    assert job.status is JobStatus.COMPLETED and job.attempts == 2


async def test_history_outage_requeues_then_fails_with_reason() -> None:
    clock, store, outbox = ManualClock(T0), FakeBacktestStore(), FakeOutbox()
    spec = parse_request(BacktestRequested(request_id="r3", a="MSFT", b="IBM", grid=GRID))
    await store.insert_job(None, Job.queued(spec, T0))
    runner = _runner(store, outbox, clock, None)
    assert await runner.run_once()
    assert store.jobs["r3"].status is JobStatus.QUEUED
    assert await runner.run_once()
    job = store.jobs["r3"]
    assert job.status is JobStatus.FAILED and "market_data down" in (job.reason or "")
    assert [e["event_type"] for e in outbox.events("results.v1")] == ["BacktestFailed"]


@pytest.mark.parametrize("bars", [10])
async def test_too_little_history_fails_the_job(bars: int) -> None:
    clock, store, outbox = ManualClock(T0), FakeBacktestStore(), FakeOutbox()
    spec = parse_request(BacktestRequested(request_id="r4", a="MSFT", b="IBM", grid=GRID))
    await store.insert_job(None, Job.queued(spec, T0))
    runner = _runner(store, outbox, clock, msft_ibm_closes(bars))
    try:
        await runner.run_once()
    finally:
        runner.close()
    assert store.jobs["r4"].status is JobStatus.FAILED
    assert "aligned bars" in (store.jobs["r4"].reason or "")


class ProgressRecordingStore(FakeBacktestStore):
    """Remembers every progress value the runner wrote while the job ran."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[float] = []

    async def heartbeat(self, conn: Any, request_id: str, progress: float, now: datetime) -> None:
        self.written.append(progress)
        await super().heartbeat(conn, request_id, progress, now)


async def test_progress_reaches_the_store_as_it_moves_not_only_on_heartbeats() -> None:
    clock, store, outbox = ManualClock(T0), ProgressRecordingStore(), FakeOutbox()
    request = BacktestRequested(request_id="wf", a="MSFT", b="IBM", grid=GRID, kind="walk_forward")
    await BacktestHandlers(store, {}).on_requests([_envelope(request, "wf")], _ctx(clock))
    runner = _runner(store, outbox, clock, msft_ibm_closes(1500))
    # heartbeats every 60 s would write nothing during this run; progress every 1 ms does
    runner.settings = RunnerSettings(RecoveryPolicy(timedelta(seconds=600), 2), 0.01, 60.0, 0.0,
                                     progress_interval_s=0.001)  # fmt: skip
    try:
        assert await runner.run_once()
    finally:
        runner.close()
    assert store.jobs["wf"].status is JobStatus.COMPLETED
    assert any(0.0 < p < 1.0 for p in store.written), store.written
    assert store.written == sorted(store.written)
    assert len(set(store.written)) == len(store.written)  # written when it moved, once each


class _DatabaseDownFor(FakeBacktestStore):
    """Claims fail as in a database outage for the first `failures` attempts."""

    def __init__(self, failures: int, error: Exception) -> None:
        super().__init__()
        self.failures, self.error = failures, error

    async def claim_next(self, conn: Any, now: datetime) -> Job | None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return await super().claim_next(conn, now)


async def test_the_job_runner_waits_out_a_database_outage() -> None:
    clock, outbox = ManualClock(T0), FakeOutbox()
    store = _DatabaseDownFor(3, ConnectionRefusedError("Connect call failed"))
    request = BacktestRequested(request_id="r9", a="MSFT", b="IBM", grid=GRID)
    await BacktestHandlers(store, {}).on_requests([_envelope(request, "r9")], _ctx(clock))
    runner = _runner(store, outbox, clock, msft_ibm_closes(300))
    task = asyncio.create_task(runner.run_forever())
    try:
        for _ in range(600):
            if store.jobs["r9"].status is JobStatus.COMPLETED or task.done():
                break
            await asyncio.sleep(0.05)
        assert not task.done(), task.exception()
        assert store.failures == 0 and store.jobs["r9"].status is JobStatus.COMPLETED
    finally:
        task.cancel()


async def test_the_job_runner_still_stops_on_a_bug() -> None:
    clock, outbox = ManualClock(T0), FakeOutbox()
    store = _DatabaseDownFor(1, ValueError("a bug, not an outage"))
    runner = _runner(store, outbox, clock, msft_ibm_closes(300))
    with pytest.raises(ValueError, match="a bug"):
        await runner.run_forever()
