"""The record of background services: status of live and dead ones, and `down` stopping
real processes (plain `sleep`s stand in for services; no infrastructure)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.runtime.endpoints import read_pipeline_state, resolve_topic_prefix, write_pipeline_state
from titan.local_services import live_processes, status, stop_recorded


def test_status_and_down_of_recorded_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TITAN_TOPIC_PREFIX", raising=False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        write_pipeline_state(
            {"started_by": "up", "topic_prefix": "p1.", "database": "titan_local",
             "log_dir": str(tmp_path / "logs"),
             "processes": {"signals": sleeper.pid, "pairs": dead.pid}},
            tmp_path,
        )  # fmt: skip
        assert live_processes(tmp_path) == {"signals": sleeper.pid}
        doc = status(tmp_path)
        by_name = {s["service"]: s for s in doc["services"]}
        assert by_name["pairs"]["alive"] is False and by_name["pairs"]["health"] == "stopped"
        assert by_name["signals"]["alive"] is True
        assert by_name["signals"]["health"] == "no endpoint"  # never registered a URL
        assert stop_recorded(tmp_path, timeout_s=10) == ["signals"]
        assert sleeper.wait(10) is not None
        assert live_processes(tmp_path) == {}
        state = read_pipeline_state(tmp_path)
        assert state is not None and state["processes"] == {}
        assert resolve_topic_prefix(tmp_path) == "p1."  # the prefix outlives the processes
    finally:
        sleeper.kill()
