"""`titan.backtest` and `titan.params`: jobs (submit, follow, list, results, reports),
walk-forwards, and the parameter sets in force per pair and regime."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import pandas as pd

from titan.client.errors import BacktestFailed, Conflict, TitanTimeout
from titan.client.results import BacktestJob, BacktestResult, When, frame, iso
from titan.client.transport import Transport

Progress = Callable[[BacktestJob], None]
JOB_COLUMNS = ["request_id", "kind", "pair_id", "status", "progress", "queue_position",
               "attempts", "reason", "source", "created_at", "updated_at"]  # fmt: skip
LIVE_COLUMNS = ["pair_id", "regime", "version", "no_trade", "params", "evidence",
                "request_id", "published_at"]  # fmt: skip
DEFAULT_WAIT_S = 600.0


def _body(
    a: str, b: str, start: When | None, end: When | None, interval: str,
    grid: Mapping[str, Any] | None, costs: Mapping[str, float] | None,
    options: Mapping[str, Any] | None, request_id: str | None,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"a": a, "b": b, "start": iso("start", start), "end": iso("end", end),
                            "interval": interval, "grid": dict(grid or {}),
                            "costs": dict(costs or {}), "options": dict(options or {})}  # fmt: skip
    if request_id is not None:
        body["request_id"] = request_id
    return body


class Backtest:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def submit(
        self, a: str, b: str, start: When | None = None, end: When | None = None, *,
        interval: str = "1d", grid: Mapping[str, Any] | None = None,
        costs: Mapping[str, float] | None = None, options: Mapping[str, Any] | None = None,
        request_id: str | None = None, kind: Literal["backtest", "walk_forward"] = "backtest",
    ) -> BacktestJob:  # fmt: skip
        """Queue a job; the same request (or `request_id`) submitted twice is one job."""
        path = "/backtests" if kind == "backtest" else "/walk-forwards"
        body = _body(a, b, start, end, interval, grid, costs, options, request_id)
        data = await self._t.post_json("backtest", path, body)
        return BacktestJob(str(data["request_id"]), str(data["status"]), kind)

    async def status(self, request_id: str) -> BacktestJob:
        return BacktestJob.from_json(await self._t.get_json("backtest", f"/backtests/{request_id}"))

    async def list(self, status: str | None = None, limit: int = 100) -> pd.DataFrame:
        """Jobs: running, then queued in the order they will run (queue_position 1 = next),
        then the most recent completed and failed."""
        data = await self._t.get_json("backtest", "/backtests", {"status": status, "limit": limit})
        jobs = frame(data["jobs"], JOB_COLUMNS, times=("created_at", "updated_at"))
        jobs["queue_position"] = jobs["queue_position"].astype("Int64")  # None unless queued
        return jobs

    async def result(self, request_id: str) -> BacktestResult:
        """Metrics and best parameters of a completed job (Conflict while it is not done,
        BacktestFailed when it failed)."""
        data = await self._t.get_json("backtest", f"/backtests/{request_id}")
        if data["status"] == "failed":
            raise BacktestFailed(request_id, str(data.get("reason")))
        if data["status"] != "completed":
            raise Conflict(f"backtest: {request_id} is {data['status']}", service="backtest",
                           status=409)  # fmt: skip
        return BacktestResult.from_json(data)

    async def report_html(self, request_id: str) -> str:
        response = await self._t.request("backtest", "GET", f"/backtests/{request_id}/report")
        return response.text

    async def wait(
        self, request_id: str, *, progress: Progress | None = None,
        timeout: float = DEFAULT_WAIT_S, poll_interval: float = 0.25,  # noqa: ASYNC109
    ) -> BacktestResult:  # fmt: skip
        """Until the job ends; `progress(job)` is called whenever its status or progress moves."""
        deadline = time.monotonic() + timeout
        seen: tuple[str, float] | None = None
        while True:
            job = await self.status(request_id)
            if progress is not None and (job.status, job.progress) != seen:
                seen = (job.status, job.progress)
                progress(job)
            if job.status == "failed":
                raise BacktestFailed(request_id, str(job.reason))
            if job.status == "completed":
                return await self.result(request_id)
            if time.monotonic() > deadline:
                raise TitanTimeout(
                    f"backtest: {request_id} still {job.status} ({job.progress:.0%}) after "
                    f"{timeout} s", service="backtest",
                )  # fmt: skip
            await asyncio.sleep(poll_interval)

    async def run(
        self, a: str, b: str, start: When | None = None, end: When | None = None, *,
        interval: str = "1d", grid: Mapping[str, Any] | None = None,
        costs: Mapping[str, float] | None = None, options: Mapping[str, Any] | None = None,
        request_id: str | None = None, wait: bool = True, progress: Progress | None = None,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109
    ) -> BacktestResult | BacktestJob:  # fmt: skip
        """Submit a backtest; with `wait` (default) return its result once completed."""
        job = await self.submit(a, b, start, end, interval=interval, grid=grid, costs=costs,
                                options=options, request_id=request_id)  # fmt: skip
        if not wait:
            return job
        return await self.wait(job.request_id, progress=progress, timeout=timeout)


class Params:
    def __init__(self, transport: Transport, backtest: Backtest) -> None:
        self._t = transport
        self._backtest = backtest

    async def live(self) -> pd.DataFrame:
        """Every parameter set in force, one row per pair and regime (pair `*` = every pair,
        regime None = any), as the signals service applies it, with the walk-forward
        evidence the backtest service published it on (None for the configured default)."""
        in_force = await self._t.get_json("signals", "/signals/params")
        published = await self._t.get_json("backtest", "/params/published")
        by_version = {p["version"]: p for p in published["params"]}
        rows = [
            {**row, "evidence": by_version.get(row["version"], {}).get("evidence"),
             "request_id": by_version.get(row["version"], {}).get("request_id"),
             "published_at": by_version.get(row["version"], {}).get("published_at")}
            for row in in_force["params"]
        ]  # fmt: skip
        return frame(rows, LIVE_COLUMNS, times=("published_at",))

    async def published(self) -> pd.DataFrame:
        """Every parameter set the backtest service ever published, newest first."""
        data = await self._t.get_json("backtest", "/params/published")
        columns = ["pair_id", "regime", "version", "params", "evidence", "request_id",
                   "published_at"]  # fmt: skip
        return frame(data["params"], columns, times=("published_at",))

    async def walk_forward(
        self, a: str, b: str, start: When | None = None, end: When | None = None, *,
        interval: str = "1d", grid: Mapping[str, Any] | None = None,
        costs: Mapping[str, float] | None = None, options: Mapping[str, Any] | None = None,
        request_id: str | None = None, wait: bool = True, progress: Progress | None = None,
        timeout: float = DEFAULT_WAIT_S,  # noqa: ASYNC109
    ) -> BacktestResult | BacktestJob:  # fmt: skip
        """Walk-forward optimisation of `a`~`b`; with `wait`, its result (best parameters,
        out-of-sample metrics)."""
        job = await self._backtest.submit(a, b, start, end, interval=interval, grid=grid,
                                          costs=costs, options=options, request_id=request_id,
                                          kind="walk_forward")  # fmt: skip
        if not wait:
            return job
        return await self._backtest.wait(job.request_id, progress=progress, timeout=timeout)
