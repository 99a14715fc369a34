"""`titan run SERVICE --migrate-only` (the Helm chart's migrations Job) applies the service's
schema migrations on a real PostgreSQL and exits: a second run finds nothing to do, and the
execution adapter migrates without its broker key (only TITAN_DATABASE_URL is needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

pytestmark = pytest.mark.integration


def _migrate(service: str, dsn: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITAN_")}
    # TITAN_HOME in the test's folder: no local infrastructure to fall back on, no broker.
    env.update(TITAN_DATABASE_URL=dsn, TITAN_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "titan", "run", service, "--migrate-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("service", ["portfolio", "execution"])
async def test_migrate_only_applies_the_schema_once_and_exits(
    fresh_database: Callable[[str], Awaitable[str]], tmp_path: Path, service: str
) -> None:
    dsn = await fresh_database(service)
    first = _migrate(service, dsn, tmp_path)
    assert first.returncode == 0, first.stderr
    conn = await asyncpg.connect(dsn)
    try:
        applied = await conn.fetch(f"SELECT id FROM {service}.schema_migrations ORDER BY id")
    finally:
        await conn.close()
    ids = {r["id"] for r in applied}
    assert any(i.startswith(f"{service}/") for i in ids), ids
    assert any(i.startswith("runtime/") for i in ids), ids
    again = _migrate(service, dsn, tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"{service}: up to date"


def test_migrate_only_without_a_database_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITAN_")}
    env["TITAN_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "titan", "run", "pairs", "--migrate-only"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "TITAN_DATABASE_URL" in done.stderr
