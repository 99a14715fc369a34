"""Celery tasks of the desk: long work that a page queues and a worker runs.

A walk-forward takes from seconds to minutes, too long for a request: the view queues it and
a worker asks the backtest service for it through the process's shared `Titan`, reporting
the service's progress as the task's state (`PROGRESS`, meta `{"progress": 0..1}`).
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from desk.clients import titan
from titan.client import BacktestJob, BacktestResult

# The backtest service queues jobs: allow for a queue ahead of this one.
WALK_FORWARD_TIMEOUT_S = 1800.0


@shared_task(bind=True, name="desk.walk_forward")
def walk_forward(
    self: Task,
    a: str,
    b: str,
    start: str,
    end: str,
    grid: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """Run a walk-forward of a~b and return its result as JSON (best parameters, metrics)."""
    # The progress callback runs on the client's loop thread, where Celery's thread-local
    # request (and so the task id) is not set.
    task_id = self.request.id

    def report(job: BacktestJob) -> None:
        meta = {"progress": job.progress, "status": job.status}
        self.update_state(task_id=task_id, state="PROGRESS", meta=meta)

    result = titan().params.walk_forward(
        a, b, start, end, grid=grid or None, wait=True, progress=report,
        timeout=WALK_FORWARD_TIMEOUT_S,
    )  # fmt: skip
    assert isinstance(result, BacktestResult)  # wait=True returns the result
    return {
        "request_id": result.request_id,
        "pair_id": result.pair_id,
        "best_params": result.best_params,
        "metrics": result.metrics,
        "n_combinations": result.n_combinations,
        "n_trades": result.n_trades,
    }
