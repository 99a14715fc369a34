"""Benchmarks use `titan infra up`'s servers when they run, else start their own."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from shared.infra.local import UpOptions, down, up
from shared.infra.state import load_local_infra


@contextlib.asynccontextmanager
async def bench_infra() -> AsyncIterator[tuple[str, str]]:
    """(kafka bootstrap, admin DSN)."""
    infra = load_local_infra()
    # A state file outlives its servers (a reboot, `kill`): use it only while both run.
    running = infra.running() if infra is not None else {}
    if (
        infra is not None
        and infra.kafka_bootstrap
        and infra.admin_dsn
        and running.get("kafka")
        and running.get("postgres")
    ):
        yield infra.kafka_bootstrap, infra.admin_dsn
        return
    home = Path(tempfile.mkdtemp(prefix="titan-bench-"))
    try:
        started, _ = await up(home, UpOptions())
        assert started.kafka_bootstrap and started.admin_dsn
        yield started.kafka_bootstrap, started.admin_dsn
    finally:
        down(home)
