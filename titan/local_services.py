"""Services left running in the background on this machine, and their record.

`titan up` and `titan demo --keep-running` start every service detached and record, in
$TITAN_HOME/run/pipeline.json (shared/runtime/endpoints.py), the topic prefix, database, log
folder and process ids. `titan status` reads it back with each service's URL (from the run
registry) and health; `titan down` stops the recorded processes. The record outlives them:
its topic prefix is what `titan signals tail` and the client read after `titan demo`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from shared.infra.process import pid_alive, stop_pid
from shared.runtime.endpoints import (
    lookup_endpoint,
    read_pipeline_state,
    write_pipeline_state,
)
from titan.pipeline import Pipeline

STOP_TIMEOUT_S = 60.0  # each service finishes and commits its batch in hand
HEALTH_TIMEOUT_S = 2.0


def record(pipeline: Pipeline, home: Path, started_by: str, *, running: bool) -> Path:
    """Write the pipeline's record; `running` = its processes are left up (detached)."""
    return write_pipeline_state(
        {
            "started_by": started_by,
            "topic_prefix": pipeline.prefix,
            "database": pipeline.database,
            "services": list(pipeline.services),
            "log_dir": str(pipeline.log_dir),
            "processes": pipeline.processes.pids() if running else {},
            "recorded_at": time.time(),
        },
        home,
    )


def live_processes(home: Path) -> dict[str, int]:
    state = read_pipeline_state(home) or {}
    procs = state.get("processes") or {}
    return {name: pid for name, pid in procs.items() if isinstance(pid, int) and pid_alive(pid)}


def stop_recorded(home: Path, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """SIGTERM every recorded live service (SIGKILL after timeout_s); the record stays, with
    no processes, so the topic prefix is still found."""
    alive = live_processes(home)
    for pid in alive.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(pid_alive(p) for p in alive.values()):
        time.sleep(0.2)
    for pid in alive.values():
        if pid_alive(pid):
            stop_pid(pid, 5.0, signal.SIGKILL)
    state = read_pipeline_state(home)
    if state is not None:
        write_pipeline_state({**state, "processes": {}}, home)
    return sorted(alive)


def health(url: str | None) -> str:
    if url is None:
        return "no endpoint"
    try:
        response = httpx.get(url + "/readyz", timeout=HEALTH_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ready" if response.status_code == 200 else f"not ready ({response.status_code})"


def _supervision(log_dir: Path | None, name: str) -> dict[str, Any]:
    """Restarts by the service's supervisor (titan/supervise.py), when it has one."""
    from titan.processes import supervisor_state
    from titan.supervise import read_state

    if log_dir is None:
        return {}
    state = read_state(supervisor_state(log_dir / f"{name}.log"))
    if state is None:
        return {}
    return {"service_pid": state.get("pid"), "restarts": state.get("restarts", 0),
            "last_exit": state.get("last_exit"), "crash_loop": state.get("crash_loop", False)}  # fmt: skip


def status(home: Path) -> dict[str, Any]:
    """Every recorded service: pid, alive, URL, health; plus the prefix and database."""
    state = read_pipeline_state(home) or {}
    procs: dict[str, Any] = state.get("processes") or {}
    services: list[dict[str, Any]] = []
    log_dir = Path(state["log_dir"]) if state.get("log_dir") else None
    for name, pid in sorted(procs.items()):
        alive = isinstance(pid, int) and pid_alive(pid)
        url = lookup_endpoint(name.split(".")[0], home) if alive and "." not in name else None
        services.append({"service": name, "pid": pid, "alive": alive, "url": url,
                         "health": health(url) if alive else "stopped",
                         **_supervision(log_dir, name)})  # fmt: skip
    return {
        "home": str(home),
        "started_by": state.get("started_by"),
        "topic_prefix": state.get("topic_prefix"),
        "database": state.get("database"),
        "log_dir": state.get("log_dir"),
        "services": services,
    }
