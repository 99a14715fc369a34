"""The migration runner on plain PostgreSQL (TimescaleDB blocks skipped) and on PGlite with
TimescaleDB (blocks run: a real hypertable with compression and retention policies)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrations import MigrationError, has_timescaledb, migrate

pytestmark = pytest.mark.integration

BARS_SQL = """\
CREATE TABLE bars (
    symbol text NOT NULL,
    ts timestamptz NOT NULL,
    close double precision NOT NULL,
    PRIMARY KEY (symbol, ts)
);
-- titan:timescale-begin
SELECT create_hypertable('bars', by_range('ts', INTERVAL '7 days'));
ALTER TABLE bars SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol');
SELECT add_compression_policy('bars', INTERVAL '30 days');
SELECT add_retention_policy('bars', INTERVAL '3650 days');
-- titan:timescale-end
"""
OFFSETS_SQL = "CREATE TABLE consumer_offsets (topic text, partition int, next_offset bigint);\n"


def _write_sources(root: Path) -> list[tuple[str, Path]]:
    core, service = root / "core", root / "svc"
    core.mkdir()
    service.mkdir()
    (core / "001_offsets.sql").write_text(OFFSETS_SQL)
    (service / "001_bars.sql").write_text(BARS_SQL)
    (service / "002_index.sql").write_text("CREATE INDEX bars_close ON bars (close);\n")
    return [("core", core), ("market_data", service)]


EXPECTED = ["core/001_offsets.sql", "market_data/001_bars.sql", "market_data/002_index.sql"]


async def test_plain_postgres_runs_all_but_timescale_blocks(
    service_dsn: Callable[[str], str], tmp_path: Path
) -> None:
    sources = _write_sources(tmp_path)
    conn = await asyncpg.connect(service_dsn("market_data"))
    try:
        assert not await has_timescaledb(conn)
        assert await migrate(conn, "market_data", sources) == EXPECTED
        assert await migrate(conn, "market_data", sources) == []  # re-run: no-op
        kinds = await conn.fetch(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n"
            " ON n.oid = c.relnamespace WHERE n.nspname = 'market_data' AND c.relkind = 'r'"
        )
        assert {r["relname"] for r in kinds} == {"bars", "consumer_offsets", "schema_migrations"}

        (tmp_path / "svc" / "002_index.sql").write_text("CREATE INDEX bars_ts ON bars (ts);\n")
        with pytest.raises(MigrationError, match=r"market_data/002_index\.sql was applied"):
            await migrate(conn, "market_data", sources)
    finally:
        await conn.close()


async def test_two_replicas_migrating_together_apply_each_file_once(
    service_dsn: Callable[[str], str], tmp_path: Path
) -> None:
    sources = _write_sources(tmp_path)
    conns = [await asyncpg.connect(service_dsn("regime")) for _ in range(2)]
    try:
        results = await asyncio.gather(*(migrate(c, "regime", sources) for c in conns))
        applied = sorted(results[0] + results[1])
        assert applied == sorted(EXPECTED)
        count = await conns[0].fetchval("SELECT count(*) FROM regime.schema_migrations")
        assert count == len(EXPECTED)
    finally:
        for c in conns:
            await c.close()


async def test_failed_migration_rolls_back_and_is_not_recorded(
    service_dsn: Callable[[str], str], tmp_path: Path
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "001_half.sql").write_text("CREATE TABLE half (x int);\nSELECT no_such_fn();\n")
    conn = await asyncpg.connect(service_dsn("backtest"))
    try:
        with pytest.raises(MigrationError, match=r"backtest/001_half\.sql failed"):
            await migrate(conn, "backtest", [("backtest", folder)])
        assert await conn.fetchval("SELECT to_regclass('backtest.half')") is None
        assert await conn.fetchval("SELECT count(*) FROM backtest.schema_migrations") == 0
    finally:
        await conn.close()


@pytest.mark.timescale
async def test_pglite_timescale_blocks_make_a_hypertable_with_policies(
    pglite_dsn: str, tmp_path: Path
) -> None:
    sources = _write_sources(tmp_path)
    conn = await asyncpg.connect(pglite_dsn)
    try:
        assert await has_timescaledb(conn)
        assert await migrate(conn, "market_data", sources) == EXPECTED
        assert await migrate(conn, "market_data", sources) == []
        hypertables = await conn.fetch(
            "SELECT hypertable_schema, hypertable_name, compression_enabled"
            " FROM timescaledb_information.hypertables"
        )
        assert [tuple(r) for r in hypertables] == [("market_data", "bars", True)]
        jobs = await conn.fetch(
            "SELECT proc_name FROM timescaledb_information.jobs"
            " WHERE hypertable_schema = 'market_data' AND hypertable_name = 'bars'"
        )
        assert sorted(r["proc_name"] for r in jobs) == [
            "policy_compression",
            "policy_retention",
        ]
    finally:
        await conn.close()
