"""`titan infra up|status|down` end to end on PostgreSQL only (Kafka has its own tests)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from shared.infra.state import load_local_infra

pytestmark = pytest.mark.integration


def _titan(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "titan.cli", "infra", *args],
        capture_output=True, text=True, timeout=300, check=False,
        env={**__import__("os").environ, "TITAN_HOME": str(home)},
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
