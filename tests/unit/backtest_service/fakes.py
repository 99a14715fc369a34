"""In-memory store, outbox and transaction for the backtest handler and runner tests."""

from __future__ import annotations

import contextlib
import json
import queue
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any

from services.backtest.domain.compute import JobResult
from services.backtest.domain.jobs import Job, JobStatus, claim_order
from services.backtest.jobs import _init_worker
from services.backtest.store import BacktestStore, Conn
from shared.runtime.records import OutgoingRecord


class FakeOutbox:
    def __init__(self) -> None:
        self.written: dict[int, list[OutgoingRecord]] = {}
        self.published: list[OutgoingRecord] = []

    async def write(self, conn: Any, records: list[OutgoingRecord]) -> int:
        batch_no = len(self.written) + 1
        self.written[batch_no] = list(records)
        return batch_no

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        assert self.written[batch_no] == list(records)
        self.published.extend(records)

    def events(self, topic_suffix: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.published if r.topic.endswith(topic_suffix)]


@contextlib.asynccontextmanager
async def no_transaction() -> AsyncIterator[None]:
    yield None


def thread_pool() -> tuple[Executor, Any]:
    """Same worker entry point and progress queue protocol, in a thread (fast unit tests)."""
    progress: queue.Queue[tuple[str, float]] = queue.Queue()
    return ThreadPoolExecutor(1, initializer=_init_worker, initargs=(progress,)), progress


class FakeBacktestStore(BacktestStore):
    """The `BacktestStore` contract in memory (handler and runner unit tests; no mocks).

    tests/unit/backtest_service/test_store_contract.py runs the same checks on it and on
    `PgBacktestStore`."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.runs: dict[str, JobResult] = {}
        self.published: dict[str, str] = {}  # version -> request id

    async def insert_job(self, conn: Conn, job: Job) -> bool:
        if job.request_id in self.jobs:
            return False
        self.jobs[job.request_id] = job
        return True

    async def get_job(self, conn: Conn, request_id: str) -> Job | None:
        return self.jobs.get(request_id)

    async def jobs_with_status(self, conn: Conn, status: JobStatus) -> list[Job]:
        found = [j for j in self.jobs.values() if j.status is status]
        return sorted(found, key=lambda j: (j.created_at, j.request_id))

    async def save_job(self, conn: Conn, job: Job) -> None:
        if job.request_id in self.jobs:
            self.jobs[job.request_id] = job

    async def claim_next(self, conn: Conn, now: datetime) -> Job | None:
        queued = sorted(await self.jobs_with_status(conn, JobStatus.QUEUED), key=claim_order)
        if not queued:
            return None
        job = queued[0].started(now)
        self.jobs[job.request_id] = job
        return job

    async def heartbeat(self, conn: Conn, request_id: str, progress: float, now: datetime) -> None:
        job = self.jobs.get(request_id)
        if job is not None and job.status is JobStatus.RUNNING:
            value = max(job.progress, min(max(progress, 0.0), 1.0))
            self.jobs[request_id] = replace(job, progress=value, heartbeat_at=now)

    async def write_result(self, conn: Conn, result: JobResult, now: datetime) -> None:
        self.runs[result.request_id] = result
        for p in result.publications:
            self.published.setdefault(p.version, result.request_id)
        job = self.jobs[result.request_id]
        self.jobs[result.request_id] = replace(
            job, status=JobStatus.COMPLETED, progress=1.0, reason=None, updated_at=now
        )

    async def get_run(self, conn: Conn, request_id: str) -> dict[str, Any] | None:
        r = self.runs.get(request_id)
        if r is None:
            return None
        return {
            "metrics": r.metrics,
            "best_params": r.best_params,
            "n_combinations": r.n_combinations,
            "n_trades": r.n_trades,
            "n_trials": r.n_trials,
            "data_start": r.data_start,
            "data_end": r.data_end,
        }

    async def get_report(self, conn: Conn, request_id: str) -> str | None:
        r = self.runs.get(request_id)
        return None if r is None else r.report_html

    async def published_params(self, conn: Conn) -> list[dict[str, Any]]:
        out = []
        for version, rid in self.published.items():
            run = self.runs[rid]
            p = next(p for p in run.publications if p.version == version)
            out.append({"pair_id": run.pair_id, "regime": p.regime, "version": version,
                        "request_id": rid, "params": p.params, "evidence": p.evidence,
                        "published_at": self.jobs[rid].updated_at})  # fmt: skip
        return sorted(out, key=lambda r: r["published_at"], reverse=True)

    async def count_rows(self, conn: Conn, request_id: str) -> dict[str, int]:
        r = self.runs.get(request_id)
        published = sum(1 for rid in self.published.values() if rid == request_id)
        if r is None:
            return {"trades": 0, "equity": 0, "published": 0}
        return {"trades": len(r.trades), "equity": len(r.equity), "published": published}
