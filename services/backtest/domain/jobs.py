"""The job model: states, and what a restart does to a job left running (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from services.backtest.domain.requests import JobSpec


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


@dataclass(frozen=True)
class Job:
    request_id: str
    kind: str
    pair_id: str
    spec: dict[str, Any] | None  # JobSpec.to_json(); None when the request was invalid
    status: JobStatus
    progress: float
    attempts: int
    created_at: datetime
    updated_at: datetime
    heartbeat_at: datetime | None = None
    reason: str | None = None
    source: str = "request"  # request | lifecycle | http
    # Event time of the cause (request envelope, lifecycle as_of): the results' occurred_at,
    # so a re-run after a crash emits byte-identical events.
    requested_at: datetime | None = None

    @classmethod
    def queued(
        cls,
        spec: JobSpec,
        now: datetime,
        source: str = "request",
        requested_at: datetime | None = None,
    ) -> Job:
        return cls(
            request_id=spec.request_id,
            kind=spec.kind,
            pair_id=spec.pair_id,
            spec=spec.to_json(),
            status=JobStatus.QUEUED,
            progress=0.0,
            attempts=0,
            created_at=now,
            updated_at=now,
            source=source,
            requested_at=requested_at or now,
        )

    @classmethod
    def rejected(
        cls,
        request_id: str,
        kind: str,
        pair: str,
        reason: str,
        now: datetime,
        source: str,
        requested_at: datetime | None = None,
    ) -> Job:
        """An invalid request is recorded as failed (it never vanishes, it never runs)."""
        return cls(
            request_id=request_id,
            kind=kind,
            pair_id=pair,
            spec=None,
            status=JobStatus.FAILED,
            progress=0.0,
            attempts=0,
            created_at=now,
            updated_at=now,
            reason=reason,
            source=source,
            requested_at=requested_at or now,
        )

    def job_spec(self) -> JobSpec:
        if self.spec is None:
            raise ValueError(f"job {self.request_id} has no spec (rejected: {self.reason})")
        return JobSpec.from_json(self.spec)

    def started(self, now: datetime) -> Job:
        return replace(
            self,
            status=JobStatus.RUNNING,
            attempts=self.attempts + 1,
            progress=0.0,
            updated_at=now,
            heartbeat_at=now,
        )


@dataclass(frozen=True)
class RecoveryPolicy:
    """A running job whose heartbeat is older than `lease` lost its runner (crash, SIGKILL).

    It is re-queued and runs again from scratch (a job is deterministic), unless it has
    already been started `max_attempts` times: then it fails with that reason.
    """

    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 3

    def recover(self, job: Job, now: datetime) -> Job | None:
        """The job's new state, or None when it is not an abandoned running job."""
        if job.status is not JobStatus.RUNNING:
            return None
        seen = job.heartbeat_at or job.updated_at
        if now - seen < self.lease:
            return None
        if job.attempts >= self.max_attempts:
            return replace(
                job,
                status=JobStatus.FAILED,
                updated_at=now,
                reason=f"abandoned after {job.attempts} attempts (runner lost each time)",
            )
        return replace(job, status=JobStatus.QUEUED, progress=0.0, updated_at=now)


def claim_order(job: Job) -> tuple[bool, datetime, datetime, str]:
    """The order queued jobs run in (as PgBacktestStore.claim_next): the walk-forwards of
    pair activations first, by activation time (they hold params.v1's watermark), then the
    others, oldest first."""
    held = job.source == "lifecycle" and job.kind == "walk_forward"
    first = (job.requested_at or job.created_at) if held else job.created_at
    return (
        not held,
        first if held else datetime.min.replace(tzinfo=first.tzinfo),
        job.created_at,
        job.request_id,
    )


def queue_positions(queued: list[Job]) -> dict[str, int]:
    """1 = the next queued job to run."""
    return {j.request_id: i for i, j in enumerate(sorted(queued, key=claim_order), start=1)}
