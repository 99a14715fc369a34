"""The job runner: queued jobs run in a process pool, never blocking the consumer.

The batch handler only records a job (queued). This background loop claims the oldest queued
job, fetches its history (market_data API) in the event loop, runs the computation in a
worker process, streams the worker's progress back through a multiprocessing queue into the
jobs table (which doubles as the runner's heartbeat), and on completion writes the run, its
trades, equity curve, publications and outbox events in ONE transaction, then publishes them.

Crash safety: a job whose heartbeat is older than the lease lost its runner; the loop
re-queues it (the job is deterministic, so it simply runs again) or fails it after
`max_attempts` starts. Nothing is ever dropped: every job ends completed or failed with a
reason and a BacktestCompleted/BacktestFailed event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import pandas as pd
from pydantic import SecretStr

from services.backtest import events
from services.backtest.domain.compute import JobResult, NoHistory, run_job
from services.backtest.domain.jobs import Job, JobStatus, RecoveryPolicy
from services.backtest.domain.requests import JobSpec
from services.backtest.store import BacktestStore, Conn
from shared.clients.market_data import HistoryClient, HistoryUnavailable
from shared.clock import Clock
from shared.runtime.records import OutgoingRecord
from shared.runtime.retry import is_transient
from shared.runtime.unit_of_work import UnitsOfWork

log = logging.getLogger(__name__)

HistoryFetch = Callable[[JobSpec], Awaitable[pd.DataFrame]]
# Units of work (shared/runtime/unit_of_work.py): a transaction, its outbox rows written
# before commit and published after it.
Units = UnitsOfWork[Conn]
AfterJob = Callable[[Conn], Awaitable[list[OutgoingRecord]]]


class HistoryOutage(RuntimeError):
    """The history API cannot be reached now: the job waits and is retried, not failed."""


def market_data_history(url: str | None, api_token: SecretStr | None = None) -> HistoryFetch:
    """Closes from market_data's history API (at `url`, or where market_data registered),
    sending the deployment's token (`api_token`, else TITAN_API_TOKEN or the local one)."""

    async def history(spec: JobSpec) -> pd.DataFrame:
        try:  # the client looks market_data up when made: it may start after us
            client = HistoryClient(url, api_token=api_token)
            return await client.closes([spec.a, spec.b], spec.interval, spec.start, spec.end)
        except HistoryUnavailable as exc:
            raise HistoryOutage(str(exc)) from exc

    return history


# -- worker side (runs in the pool's processes) ---------------------------------------------

_progress_queue: Any = None


def _init_worker(progress_queue: Any) -> None:
    global _progress_queue
    _progress_queue = progress_queue


def _report(request_id: str) -> Callable[[float], None]:
    def report(fraction: float) -> None:
        if _progress_queue is not None:
            with contextlib.suppress(Exception):  # progress is advisory; never fail a job on it
                _progress_queue.put_nowait((request_id, float(fraction)))

    return report


def work(spec_json: dict[str, Any], closes: pd.DataFrame) -> JobResult:
    spec = JobSpec.from_json(spec_json)
    return run_job(spec, closes, _report(spec.request_id))


def make_pool(workers: int) -> tuple[ProcessPoolExecutor, Any]:
    """A spawn-context pool (no fork of a process running threads) and its progress queue."""
    ctx = multiprocessing.get_context("spawn")
    progress: Any = ctx.Queue()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(progress,)
    )
    return pool, progress


# -- runner side (the service's event loop) --------------------------------------------------


@dataclass(frozen=True)
class RunnerSettings:
    policy: RecoveryPolicy = field(default_factory=RecoveryPolicy)
    poll_interval_s: float = 1.0
    heartbeat_interval_s: float = 2.0
    history_retry_s: float = 10.0
    # How often the worker's progress reaches the jobs table (only when it moved): a client
    # polling a job sees it advance even when the whole run takes a second or two.
    progress_interval_s: float = 0.25


class JobRunner:
    def __init__(
        self,
        store: BacktestStore,
        units: Units,
        history: HistoryFetch,
        clock: Clock,
        pool_factory: Callable[[], tuple[Executor, Any]],
        settings: RunnerSettings | None = None,
        after_job: AfterJob | None = None,
    ) -> None:
        self.store = store
        self.units = units
        self.history = history
        self.clock = clock
        self.pool_factory = pool_factory
        self.settings = settings or RunnerSettings()
        # Rows written with a job's end in its transaction (the params watermark it releases).
        self.after_job = after_job
        self._pool: Executor | None = None
        self._progress: Any = None
        self._latest: dict[str, float] = {}

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    busy = await self.run_once()
                except Exception as exc:
                    # A database outage must not end the job runner (a background job that
                    # raises stops the service): the job in hand keeps its lease and
                    # recover() requeues it once the lease runs out.
                    if not is_transient(exc):
                        raise
                    log.warning("job step failed (%s: %s); trying again", type(exc).__name__, exc)
                    busy = False
                if not busy:
                    await asyncio.sleep(self.settings.poll_interval_s)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _ensure_pool(self) -> Executor:
        if self._pool is None:
            self._pool, self._progress = self.pool_factory()
        return self._pool

    async def recover(self) -> list[Job]:
        async with self.units() as uow:
            changed = await self.store.recover_abandoned(
                uow.conn, self.settings.policy, self.clock.now()
            )
            for j in changed:
                if j.status is JobStatus.FAILED:
                    uow.emit(*events.failed(j, j.reason or "failed", self.clock.now()))
        for job in changed:
            log.warning("job %s abandoned by its runner: now %s", job.request_id, job.status)
        return changed

    async def run_once(self) -> bool:
        """Recover abandoned jobs, then run the oldest queued job; False when none was queued."""
        await self.recover()
        async with self.units() as uow:
            job = await self.store.claim_next(uow.conn, self.clock.now())
        if job is None:
            return False
        await self._run(job)
        return True

    async def _run(self, job: Job) -> None:
        spec = job.job_spec()
        try:
            closes = await self.history(spec)
        except HistoryOutage as exc:
            await self._retry_later(job, f"history unavailable: {exc}")
            return
        except NoHistory as exc:
            await self._finish_failed(job, str(exc))
            return
        pool = self._ensure_pool()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(pool, work, spec.to_json(), closes)
        async with self._heartbeats(job):
            try:
                result = await future
            except NoHistory as exc:
                await self._finish_failed(job, str(exc))
                return
            except BrokenProcessPool as exc:
                self._pool = None  # a worker died (OOM, kill): new pool, job retried
                await self._retry_later(job, f"worker process died: {exc}", immediate=True)
                return
            except (ValueError, ArithmeticError, KeyError, IndexError, TypeError) as exc:
                await self._finish_failed(job, f"{type(exc).__name__}: {exc}")
                return
        await self._finish_completed(job, result)

    @contextlib.asynccontextmanager
    async def _heartbeats(self, job: Job) -> AsyncIterator[None]:
        task = asyncio.create_task(self._beat(job.request_id))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _drain_progress(self) -> None:
        if self._progress is None:
            return
        while True:
            try:
                request_id, fraction = self._progress.get_nowait()
            except (queue.Empty, OSError, ValueError, EOFError):
                return
            self._latest[request_id] = max(self._latest.get(request_id, 0.0), fraction)

    async def _beat(self, request_id: str) -> None:
        written = 0.0
        last_beat = asyncio.get_running_loop().time()
        tick = min(self.settings.progress_interval_s, self.settings.heartbeat_interval_s)
        while True:
            await asyncio.sleep(tick)
            self._drain_progress()
            now = asyncio.get_running_loop().time()
            moved = self._latest.get(request_id, 0.0) > written
            if not moved and now - last_beat < self.settings.heartbeat_interval_s:
                continue
            written, last_beat = self._latest.get(request_id, 0.0), now
            try:
                async with self.units() as uow:
                    await self.store.heartbeat(
                        uow.conn, request_id, self._latest.get(request_id, 0.0), self.clock.now()
                    )
            except (OSError, ConnectionError) as exc:  # the database blinks: next beat
                log.warning("heartbeat of %s failed: %s", request_id, exc)

    async def _finish_completed(self, job: Job, result: JobResult) -> None:
        self._latest.pop(job.request_id, None)
        now = self.clock.now()
        async with self.units() as uow:
            await self.store.write_result(uow.conn, result, now)
            for topic, envelope in events.completed(job, result, now):
                uow.emit(topic, envelope, partition_key=events.partition_key(topic, envelope))
            if self.after_job is not None:
                uow.emit_records(await self.after_job(uow.conn))
        log.info("job %s completed: %d trades", job.request_id, result.n_trades)

    async def _finish_failed(self, job: Job, reason: str) -> None:
        self._latest.pop(job.request_id, None)
        now = self.clock.now()
        async with self.units() as uow:
            await self.store.fail_job(uow.conn, job.request_id, reason, now)
            uow.emit(*events.failed(job, reason, now))
            if self.after_job is not None:
                uow.emit_records(await self.after_job(uow.conn))
        log.warning("job %s failed: %s", job.request_id, reason)

    async def _retry_later(self, job: Job, reason: str, immediate: bool = False) -> None:
        if job.attempts >= self.settings.policy.max_attempts:
            await self._finish_failed(job, f"{reason} (after {job.attempts} attempts)")
            return
        now = self.clock.now()
        async with self.units() as uow:
            await self.store.save_job(
                uow.conn, replace(job, status=JobStatus.QUEUED, reason=reason, updated_at=now)
            )
        log.warning("job %s re-queued: %s", job.request_id, reason)
        if not immediate:
            await asyncio.sleep(self.settings.history_retry_s)


def lease(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)
