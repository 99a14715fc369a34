"""SQL of the backtest service: jobs, runs, trades, equity curves, published parameter sets.

`BacktestStore` is the port; `PgBacktestStore` the PostgreSQL implementation (search_path =
the backtest schema); the in-memory fake of the tests is tests/unit/backtest_service/fakes.py.
Every write is an upsert keyed by the request id, so re-running a batch or a job changes
nothing.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from services.backtest.domain.compute import JobResult
from services.backtest.domain.jobs import Job, JobStatus, RecoveryPolicy

Conn = Any  # asyncpg.Connection for PostgreSQL; ignored by the tests' in-memory fake


class BacktestStore(ABC):
    @abstractmethod
    async def insert_job(self, conn: Conn, job: Job) -> bool:
        """Record a job unless its request id is known; True when it was new."""

    @abstractmethod
    async def get_job(self, conn: Conn, request_id: str) -> Job | None: ...

    @abstractmethod
    async def jobs_with_status(self, conn: Conn, status: JobStatus) -> list[Job]:
        """Oldest first (created_at, then request id)."""

    @abstractmethod
    async def save_job(self, conn: Conn, job: Job) -> None:
        """Overwrite status, progress, attempts, reason and times of a known job."""

    @abstractmethod
    async def claim_next(self, conn: Conn, now: datetime) -> Job | None:
        """The next queued job, now running (attempts + 1), or None: first the walk-forwards
        activations started, earliest activation first (they hold params.v1's watermark, see
        watermark.py), then the others, oldest first."""

    @abstractmethod
    async def heartbeat(self, conn: Conn, request_id: str, progress: float, now: datetime) -> None:
        """Progress of a running job; also proves its runner is alive."""

    @abstractmethod
    async def write_result(self, conn: Conn, result: JobResult, now: datetime) -> None:
        """Run, trades, equity curve and publications, and the job completed."""

    @abstractmethod
    async def get_run(self, conn: Conn, request_id: str) -> dict[str, Any] | None:
        """Metrics, best params and counts of a completed job (no report)."""

    @abstractmethod
    async def get_report(self, conn: Conn, request_id: str) -> str | None: ...

    @abstractmethod
    async def published_params(self, conn: Conn) -> list[dict[str, Any]]:
        """Every parameter set published, with its evidence: pair_id, regime, version,
        request_id, params, evidence, published_at; newest first."""

    @abstractmethod
    async def count_rows(self, conn: Conn, request_id: str) -> dict[str, int]:
        """Rows of trades, equity curve and published sets of one run (for operators/tests)."""

    async def fail_job(self, conn: Conn, request_id: str, reason: str, now: datetime) -> Job:
        job = await self.get_job(conn, request_id)
        if job is None:
            raise KeyError(f"unknown job {request_id}")
        failed = replace(job, status=JobStatus.FAILED, reason=reason, updated_at=now)
        await self.save_job(conn, failed)
        return failed

    async def recover_abandoned(
        self, conn: Conn, policy: RecoveryPolicy, now: datetime
    ) -> list[Job]:
        """Re-queue (or fail after max attempts) running jobs whose runner is gone."""
        changed: list[Job] = []
        for job in await self.jobs_with_status(conn, JobStatus.RUNNING):
            recovered = policy.recover(job, now)
            if recovered is not None:
                await self.save_job(conn, recovered)
                changed.append(recovered)
        return changed


def _job(row: asyncpg.Record) -> Job:
    spec = row["spec"]
    return Job(
        request_id=row["request_id"],
        kind=row["kind"],
        pair_id=row["pair_id"],
        spec=json.loads(spec) if isinstance(spec, str) else spec,
        status=JobStatus(row["status"]),
        progress=float(row["progress"]),
        attempts=int(row["attempts"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        heartbeat_at=row["heartbeat_at"],
        reason=row["reason"],
        source=row["source"],
        requested_at=row["requested_at"],
    )


_JOB_COLUMNS = (
    "request_id, kind, pair_id, spec, status, progress, attempts, reason, source,"
    " created_at, updated_at, heartbeat_at, requested_at"
)


class PgBacktestStore(BacktestStore):
    async def insert_job(self, conn: Conn, job: Job) -> bool:
        status: str = await conn.execute(
            f"INSERT INTO jobs ({_JOB_COLUMNS})"
            " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
            " ON CONFLICT (request_id) DO NOTHING",
            job.request_id,
            job.kind,
            job.pair_id,
            None if job.spec is None else json.dumps(job.spec),
            job.status.value,
            job.progress,
            job.attempts,
            job.reason,
            job.source,
            job.created_at,
            job.updated_at,
            job.heartbeat_at,
            job.requested_at,
        )
        return status.endswith(" 1")

    async def get_job(self, conn: Conn, request_id: str) -> Job | None:
        row = await conn.fetchrow(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE request_id = $1", request_id
        )
        return None if row is None else _job(row)

    async def jobs_with_status(self, conn: Conn, status: JobStatus) -> list[Job]:
        rows = await conn.fetch(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = $1 ORDER BY created_at, request_id",
            status.value,
        )
        return [_job(r) for r in rows]

    async def save_job(self, conn: Conn, job: Job) -> None:
        await conn.execute(
            "UPDATE jobs SET status = $2, progress = $3, attempts = $4, reason = $5,"
            " updated_at = $6, heartbeat_at = $7 WHERE request_id = $1",
            job.request_id,
            job.status.value,
            job.progress,
            job.attempts,
            job.reason,
            job.updated_at,
            job.heartbeat_at,
        )

    async def claim_next(self, conn: Conn, now: datetime) -> Job | None:
        row = await conn.fetchrow(
            f"""UPDATE jobs SET status = 'running', attempts = attempts + 1, progress = 0,
                       updated_at = $1, heartbeat_at = $1
                 WHERE request_id = (
                       SELECT request_id FROM jobs WHERE status = 'queued'
                        ORDER BY (source = 'lifecycle' AND kind = 'walk_forward') DESC,
                                 CASE WHEN source = 'lifecycle' AND kind = 'walk_forward'
                                      THEN requested_at END,
                                 created_at, request_id
                        FOR UPDATE SKIP LOCKED LIMIT 1)
             RETURNING {_JOB_COLUMNS}""",
            now,
        )
        return None if row is None else _job(row)

    async def heartbeat(self, conn: Conn, request_id: str, progress: float, now: datetime) -> None:
        await conn.execute(
            "UPDATE jobs SET progress = GREATEST(progress, $2), heartbeat_at = $3"
            " WHERE request_id = $1 AND status = 'running'",
            request_id,
            min(max(progress, 0.0), 1.0),
            now,
        )

    async def write_result(self, conn: Conn, result: JobResult, now: datetime) -> None:
        rid = result.request_id
        await conn.execute(
            """INSERT INTO runs (request_id, kind, pair_id, metrics, best_params, n_combinations,
                                 n_trades, n_trials, data_start, data_end, report_html,
                                 completed_at)
               VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (request_id) DO UPDATE SET metrics = EXCLUDED.metrics,
                   best_params = EXCLUDED.best_params, n_combinations = EXCLUDED.n_combinations,
                   n_trades = EXCLUDED.n_trades, n_trials = EXCLUDED.n_trials,
                   data_start = EXCLUDED.data_start, data_end = EXCLUDED.data_end,
                   report_html = EXCLUDED.report_html""",
            rid,
            result.kind,
            result.pair_id,
            json.dumps(result.metrics),
            json.dumps(result.best_params),
            result.n_combinations,
            result.n_trades,
            result.n_trials,
            result.data_start,
            result.data_end,
            result.report_html,
            now,
        )
        await conn.execute("DELETE FROM trades WHERE request_id = $1", rid)
        await conn.executemany(
            """INSERT INTO trades (request_id, trade_no, entry_time, exit_time, direction,
                                   reason, pnl, costs, detail)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
            [
                (
                    rid,
                    i,
                    datetime.fromisoformat(t["entry_time"]),
                    None if t["exit_time"] is None else datetime.fromisoformat(t["exit_time"]),
                    t["direction"],
                    t["reason"],
                    float(t["pnl"]),
                    float(t["costs"]),
                    json.dumps(t),
                )
                for i, t in enumerate(result.trades)
            ],
        )
        await conn.execute("DELETE FROM equity_curves WHERE request_id = $1", rid)
        await conn.copy_records_to_table(
            "equity_curves",
            columns=["request_id", "bar_time", "equity", "drawdown"],
            records=[(rid, t.to_pydatetime(), e, d) for t, e, d in result.equity],
        )
        await conn.executemany(
            """INSERT INTO published_params (pair_id, regime, version, request_id, params,
                                             evidence, published_at)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
               ON CONFLICT (version) DO NOTHING""",
            [
                (
                    result.pair_id,
                    p.regime,
                    p.version,
                    rid,
                    json.dumps(p.params),
                    json.dumps(p.evidence),
                    now,
                )
                for p in result.publications
            ],
        )
        await conn.execute(
            "UPDATE jobs SET status = 'completed', progress = 1, reason = NULL, updated_at = $2"
            " WHERE request_id = $1",
            rid,
            now,
        )

    async def get_run(self, conn: Conn, request_id: str) -> dict[str, Any] | None:
        row = await conn.fetchrow(
            "SELECT metrics, best_params, n_combinations, n_trades, n_trials, data_start,"
            " data_end FROM runs WHERE request_id = $1",
            request_id,
        )
        if row is None:
            return None
        out = dict(row)
        for key in ("metrics", "best_params"):
            if isinstance(out[key], str):
                out[key] = json.loads(out[key])
        return out

    async def get_report(self, conn: Conn, request_id: str) -> str | None:
        value: str | None = await conn.fetchval(
            "SELECT report_html FROM runs WHERE request_id = $1", request_id
        )
        return value

    async def published_params(self, conn: Conn) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            "SELECT pair_id, regime, version, request_id, params, evidence, published_at"
            " FROM published_params ORDER BY published_at DESC, version"
        )
        out = [dict(r) for r in rows]
        for row in out:
            for key in ("params", "evidence"):
                if isinstance(row[key], str):
                    row[key] = json.loads(row[key])
        return out

    async def count_rows(self, conn: Conn, request_id: str) -> dict[str, int]:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM trades WHERE request_id = $1) AS trades,
                      (SELECT count(*) FROM equity_curves WHERE request_id = $1) AS equity,
                      (SELECT count(*) FROM published_params WHERE request_id = $1) AS published""",
            request_id,
        )
        return {k: int(v) for k, v in dict(row).items()}
