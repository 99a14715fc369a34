"""The supervisor of `titan up`'s services (titan/supervise.py), with real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from titan import supervise
from titan.supervise import Supervisor, in_crash_loop, next_backoff, read_state


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervise, "FIRST_BACKOFF_S", 0.02)
    monkeypatch.setattr(supervise, "MAX_BACKOFF_S", 0.05)


def counting_child(counter: Path, crash_until: int, code: int = 5) -> list[str]:
    """A service that dies with `code` on its first `crash_until` starts, then exits 0."""
    script = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        f"sys.exit({code} if n <= {crash_until} else 0)\n"
    )
    return [sys.executable, "-c", script]


@pytest.mark.usefixtures("quick_backoff")
def test_a_dead_service_is_restarted_until_it_exits_cleanly(tmp_path: Path) -> None:
    state = tmp_path / "signals.supervisor.json"
    supervisor = Supervisor(counting_child(tmp_path / "n", crash_until=2), state)
    assert supervisor.run() == 0
    assert (tmp_path / "n").read_text() == "3"
    recorded = read_state(state)
    assert recorded is not None
    assert recorded["restarts"] == 2 and recorded["last_exit"] == 0
    assert recorded["crash_loop"] is False


@pytest.mark.usefixtures("quick_backoff")
def test_a_crash_loop_is_given_up_with_the_service_exit_code(tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    supervisor = Supervisor(counting_child(tmp_path / "n", crash_until=1000, code=7), state)
    assert supervisor.run() == 7
    assert int((tmp_path / "n").read_text()) == supervise.CRASH_LOOP_RESTARTS
    recorded = read_state(state)
    assert recorded is not None and recorded["crash_loop"] is True
    assert recorded["restarts"] == supervise.CRASH_LOOP_RESTARTS - 1


@pytest.mark.usefixtures("quick_backoff")
def test_a_fault_restarting_cannot_fix_is_not_restarted(tmp_path: Path) -> None:
    supervisor = Supervisor(
        counting_child(tmp_path / "n", crash_until=1, code=supervise.CANNOT_CONTINUE),
        tmp_path / "s.json",
    )
    assert supervisor.run() == supervise.CANNOT_CONTINUE
    assert (tmp_path / "n").read_text() == "1"


def test_backoff_doubles_to_its_cap_and_resets_after_a_stable_run() -> None:
    waits = [0.5]
    for _ in range(8):
        waits.append(next_backoff(waits[-1], ran_s=1.0))
    assert waits[1:4] == [1.0, 2.0, 4.0] and max(waits) == supervise.MAX_BACKOFF_S
    assert next_backoff(30.0, ran_s=supervise.STABLE_AFTER_S) == supervise.FIRST_BACKOFF_S


def test_crash_loop_counts_only_recent_deaths() -> None:
    n, window = supervise.CRASH_LOOP_RESTARTS, supervise.CRASH_LOOP_WINDOW_S
    assert in_crash_loop([100.0] * n, now=100.0 + window)
    assert not in_crash_loop([100.0] * (n - 1), now=100.0)
    assert not in_crash_loop([0.0] + [100.0] * (n - 1), now=100.0 + window / 2 + 1)


SLEEPER = (
    "import pathlib, signal, sys, time\n"
    "def bye(*_):\n"
    "    pathlib.Path(sys.argv[1]).write_text('terminated')\n"
    "    sys.exit(0)\n"
    "signal.signal(signal.SIGTERM, bye)\n"
    "pathlib.Path(sys.argv[1]).write_text('running')\n"
    "while True: time.sleep(0.05)\n"
)


def start_supervised(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    mark, state = tmp_path / "mark", tmp_path / "state.json"
    proc = subprocess.Popen([sys.executable, "-m", "titan.supervise", "--state", str(state),
                             "--", sys.executable, "-c", SLEEPER, str(mark)])  # fmt: skip
    deadline = time.monotonic() + 30
    while not (mark.exists() and mark.read_text() == "running"):
        assert time.monotonic() < deadline, "the service never started"
        time.sleep(0.05)
    return proc, mark, state


def wait_for(mark: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while mark.read_text() != text:
        assert time.monotonic() < deadline, f"never {text}"
        time.sleep(0.05)


def test_sigterm_to_the_supervisor_stops_the_service_first(tmp_path: Path) -> None:
    proc, mark, state = start_supervised(tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    assert mark.read_text() == "terminated"
    recorded = read_state(state)
    assert recorded is not None and recorded["restarts"] == 0


def test_a_killed_service_is_restarted_and_a_killed_supervisor_takes_it_along(
    tmp_path: Path,
) -> None:
    proc, mark, state = start_supervised(tmp_path)
    try:
        first = json.loads(state.read_text())["pid"]
        os.kill(first, signal.SIGKILL)
        mark.write_text("killed")
        deadline = time.monotonic() + 30
        while (read_state(state) or {}).get("pid") in (None, first):
            assert time.monotonic() < deadline, "the service was not restarted"
            time.sleep(0.05)
        assert (read_state(state) or {})["restarts"] == 1
        wait_for(mark, "running")  # the new service's SIGTERM handler is in place
        proc.kill()  # the supervisor dies: the service gets SIGTERM (parent-death signal)
        proc.wait(timeout=30)
        wait_for(mark, "terminated")
    finally:
        if proc.poll() is None:
            proc.kill()
