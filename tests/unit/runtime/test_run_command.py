"""`titan run SERVICE`: a stop while it is still starting exits cleanly (code 0); SIGUSR1's
dump of where each asyncio task waits."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from shared.runtime.service import log_task_stacks
from tests.process_signals import catches_sigterm
from titan.processes import spawn_service

HANDLER_WAIT_S = 60.0  # interpreter start plus light imports: well under this, even when busy


def test_sigterm_during_start_up_exits_zero(tmp_path: Path) -> None:
    env = {
        **os.environ,
        # Valid settings pointing at nothing: the service must stop before connecting.
        "TITAN_DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:9/none",
        "TITAN_KAFKA_BOOTSTRAP": "127.0.0.1:9",
        "TITAN_HOME": str(tmp_path / "home"),
    }
    log_path = tmp_path / "pairs.log"
    proc = spawn_service("pairs", env, log_path)
    try:
        deadline = time.monotonic() + HANDLER_WAIT_S
        while not catches_sigterm(proc.pid):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "no SIGTERM handler installed"
            time.sleep(0.005)
        # Still importing pandas/statsmodels: before the fix this was death by signal (-15).
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Stop requested before start-up" in log_path.read_text()


def test_task_stacks_name_where_each_task_waits(caplog: pytest.LogCaptureFixture) -> None:
    async def waiting_for_the_database() -> None:
        await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.create_task(waiting_for_the_database(), name="batch-in-flight")
        await asyncio.sleep(0)
        log_task_stacks()
        task.cancel()

    with caplog.at_level(logging.WARNING, logger="shared.runtime.service"):
        asyncio.run(main())
    lines = [r.getMessage() for r in caplog.records]
    assert any(
        "batch-in-flight" in line and "waiting_for_the_database (test_run_command.py:" in line
        for line in lines
    ), lines
