"""`titan infra up|status|down` end to end on PostgreSQL only (Kafka has its own tests)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from shared.infra.postgres import pg_ctl
from shared.infra.state import load_local_infra

pytestmark = pytest.mark.integration


def _titan(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "titan.cli", "infra", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "TITAN_HOME": str(home)},
    )  # fmt: skip


async def test_up_is_idempotent_status_reports_and_down_stops(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        first = _titan(home, "up", "--no-kafka")
        assert first.returncode == 0, first.stderr
        assert "started: postgres" in first.stdout
        state_file = home / "infra.json"
        assert stat.S_IMODE(state_file.stat().st_mode) == 0o600

        again = _titan(home, "up", "--no-kafka")
        assert again.returncode == 0 and "already running" in again.stdout

        status = _titan(home, "status", "--json")
        doc = json.loads(status.stdout)
        assert doc["running"] == {"kafka": False, "postgres": True, "pglite": False}
        infra = load_local_infra(home)
        assert infra is not None and infra.admin_dsn == doc["admin_dsn"]
        conn = await asyncpg.connect(infra.service_dsn("signals"))
        try:
            assert await conn.fetchval("SELECT current_user") == "titan_signals"
        finally:
            await conn.close()
    finally:
        down = _titan(home, "down", "--purge")
    assert down.returncode == 0 and "postgres" in down.stdout, down.stderr
    assert _titan(home, "status").returncode == 1


def test_bad_port_is_rejected_with_a_clear_message(tmp_path: Path) -> None:
    result = _titan(tmp_path, "up", "--pg-port", "70000")
    assert result.returncode == 2
    assert "port must be in 1..65535, got 70000" in result.stderr


async def test_up_after_a_crash_restores_the_same_addresses_and_credentials(
    tmp_path: Path,
) -> None:
    """Issue 19 (3): a crash then `up` used to bring Kafka back on a new port with new role
    passwords; a `pg_ctl restart` by hand made status say stopped and `up` fail."""
    home = tmp_path / "home"
    try:
        assert _titan(home, "up").returncode == 0
        before = load_local_infra(home)
        assert before is not None and before.kafka is not None and before.postgres is not None
        signals_dsn = before.service_dsn("signals")
        data_dir = Path(before.postgres.base_dir) / "data"

        os.kill(before.kafka.pid, signal.SIGKILL)
        pg_ctl(data_dir, "-m", "immediate", "-w", "stop")
        status = json.loads(_titan(home, "status", "--json").stdout)
        assert status["conditions"] == {
            "kafka": "crashed",
            "postgres": "crashed",
            "pglite": "absent",
        }

        restored = _titan(home, "up")
        assert restored.returncode == 0, restored.stderr
        after = load_local_infra(home)
        assert after is not None and after.kafka is not None and after.postgres is not None
        assert after.kafka_bootstrap == before.kafka_bootstrap
        assert after.postgres.port == before.postgres.port
        assert after.service_dsn("signals") == signals_dsn  # survivors reconnect as before
        conn = await asyncpg.connect(signals_dsn)
        await conn.close()

        # By hand: a new postmaster pid (with a log file, or the server holds our pipes).
        pg_ctl(data_dir, "-w", "-l", str(data_dir.parent / "postgres.log"), "restart")
        assert json.loads(_titan(home, "status", "--json").stdout)["conditions"]["postgres"] == (
            "running"
        )
        # A service added since the cluster was provisioned gets its role at the next `up`.
        state = json.loads((home / "infra.json").read_text())
        del state["postgres"]["service_passwords"]["backtest"]
        (home / "infra.json").write_text(json.dumps(state))
        again = _titan(home, "up")
        assert again.returncode == 0 and "already running" in again.stdout, again.stderr
        adopted = load_local_infra(home)
        assert adopted is not None and adopted.service_dsn("signals") == signals_dsn
        conn = await asyncpg.connect(adopted.service_dsn("backtest"))
        await conn.close()

        assert _titan(home, "down").returncode == 0
        stopped = json.loads(_titan(home, "status", "--json").stdout)["conditions"]
        assert stopped == {"kafka": "stopped", "postgres": "stopped", "pglite": "absent"}
        assert _titan(home, "up").returncode == 0
        final = load_local_infra(home)
        assert final is not None and final.kafka_bootstrap == before.kafka_bootstrap
        assert final.service_dsn("signals") == signals_dsn
    finally:
        _titan(home, "down", "--purge")
