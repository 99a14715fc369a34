"""`titan up` / `status` / `down`, and the one topic-prefix resolution of the commands, as a
user runs them (subprocesses) next to the running demo of tests/integration/running_titan.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.running_titan import RunningTitan, titan_cli, user_env
from titan.client import Titan

pytestmark = pytest.mark.integration
SERVICES = {"market_data", "pairs", "regime", "signals", "backtest"}


def test_signals_tail_after_the_demo_prints_its_signals_with_no_flag(
    running_titan: RunningTitan,
) -> None:
    done = titan_cli(running_titan.env, "signals", "tail", "--json", "--from-beginning",
                     "--idle-exit", "5", timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    ids = [json.loads(line)["payload"]["signal_id"] for line in done.stdout.splitlines()]
    assert len(set(ids)) == running_titan.summary["signals"] > 0
    with Titan(home=running_titan.home) as t:
        assert set(ids) == set(t.signals.history()["signal_id"])


def test_status_lists_the_demo_services_with_urls_and_health(running_titan: RunningTitan) -> None:
    done = titan_cli(running_titan.env, "status", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    status = json.loads(done.stdout)
    assert status["started_by"] == "demo"
    assert status["topic_prefix"] == running_titan.topic_prefix
    assert {s["service"] for s in status["services"]} >= SERVICES  # and any added later
    assert all(s["alive"] and s["health"] == "ready" and s["url"] for s in status["services"])
    assert status["infrastructure"]["kafka"]["running"]
    human = titan_cli(running_titan.env, "status")
    assert "topic prefix" in human.stdout and "ready" in human.stdout


def test_up_status_down_on_the_same_infrastructure(
    running_titan: RunningTitan, tmp_path: Path
) -> None:
    """A second TITAN_HOME borrows the demo's Kafka and PostgreSQL (its state file), so only
    the services start here; `down --keep-infra` leaves them to their owner."""
    home = tmp_path / "up-home"
    home.mkdir()
    shutil.copy(running_titan.home / "infra.json", home / "infra.json")
    env = user_env(home)
    try:
        up = titan_cli(env, "up", timeout=300)
        assert up.returncode == 0, up.stderr[-3000:]
        assert "ready" in up.stdout
        again = titan_cli(env, "up", timeout=60)
        assert again.returncode == 0 and "already running" in again.stderr
        status = json.loads(titan_cli(env, "status", "--json").stdout)
        assert status["started_by"] == "up" and status["topic_prefix"] == ""
        assert {s["service"] for s in status["services"]} >= {*SERVICES, "console"}
        assert all(s["health"] == "ready" for s in status["services"])
        with Titan(home=home) as t:
            assert t.health() == dict.fromkeys(t.health(), True)
            assert t.market_data.symbols() == []  # its own database, nothing replayed yet
        assert_a_killed_service_is_restarted(env, "signals")
    finally:
        down = titan_cli(env, "down", "--keep-infra", timeout=180)
    assert down.returncode == 0, down.stderr[-2000:]
    assert "stopped services:" in down.stdout
    after = json.loads(titan_cli(env, "status", "--json").stdout)
    assert after["services"] == [] or not any(s["alive"] for s in after["services"])
    assert after["infrastructure"]["kafka"]["running"]  # the owner's infrastructure stays


def assert_a_killed_service_is_restarted(env: dict[str, str], service: str) -> None:
    """SIGKILL the service (not its supervisor): the supervisor starts it again and
    `titan status` counts the restart."""

    def state() -> dict[str, Any]:
        status = json.loads(titan_cli(env, "status", "--json").stdout)
        return next(s for s in status["services"] if s["service"] == service)

    before = state()
    assert before["restarts"] == 0 and before["service_pid"] != before["pid"]
    os.kill(before["service_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 120
    while True:
        after = state()
        if after["restarts"] == 1 and after["health"] == "ready":
            break
        assert time.monotonic() < deadline, after
        time.sleep(1.0)
    assert after["pid"] == before["pid"] and after["service_pid"] != before["service_pid"]
