"""Schema migrations: `NNN_name.sql` files applied once each, in order, per service schema.

Each file runs in its own transaction under an advisory lock (two replicas starting
together serialise), and is recorded in `<schema>.schema_migrations` with its checksum;
an applied file whose text changed is an error. Blocks between the lines
`-- titan:timescale-begin` and `-- titan:timescale-end` run only where the timescaledb
extension is installed (hypertables, compression, retention); elsewhere they are skipped
and the rest of the file still runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

TIMESCALE_BEGIN = "-- titan:timescale-begin"
TIMESCALE_END = "-- titan:timescale-end"
_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_LOCK_NAMESPACE = "titan.migrations"


class MigrationError(RuntimeError):
    """A migration folder, file or record is inconsistent."""


@dataclass(frozen=True)
class Migration:
    id: str  # "source/NNN_name.sql"
    path: Path
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


async def has_timescaledb(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))


def strip_timescale_blocks(sql: str, *, keep: bool) -> str:
    """Keep or drop the marked blocks; markers must pair up and not nest."""
    out: list[str] = []
    inside = False
    for number, line in enumerate(sql.splitlines(), start=1):
        marker = line.strip()
        if marker == TIMESCALE_BEGIN:
            if inside:
                raise MigrationError(f"line {number}: nested {TIMESCALE_BEGIN}")
            inside = True
            continue
        if marker == TIMESCALE_END:
            if not inside:
                raise MigrationError(f"line {number}: {TIMESCALE_END} without begin")
            inside = False
            continue
        if keep or not inside:
            out.append(line)
    if inside:
        raise MigrationError(f"{TIMESCALE_BEGIN} not closed by {TIMESCALE_END}")
    return "\n".join(out) + "\n"


def collect(sources: Sequence[tuple[str, Path]]) -> list[Migration]:
    """Migrations of every (source, folder), folder order then file number."""
    found: list[Migration] = []
    seen_sources: set[str] = set()
    for source, folder in sources:
        if source in seen_sources:
            raise MigrationError(f"migration source {source!r} given twice")
        seen_sources.add(source)
        if not folder.is_dir():
            raise MigrationError(f"migration folder {folder} of {source!r} does not exist")
        numbers: dict[str, str] = {}
        files = sorted(p for p in folder.iterdir() if p.suffix == ".sql")
        for path in files:
            match = _FILE.match(path.name)
            if match is None:
                raise MigrationError(f"{path}: migration files are named NNN_lower_name.sql")
            if match.group(1) in numbers:
                raise MigrationError(
                    f"{folder}: {path.name} and {numbers[match.group(1)]} share number "
                    f"{match.group(1)}"
                )
            numbers[match.group(1)] = path.name
            text = path.read_text(encoding="utf-8")
            strip_timescale_blocks(text, keep=False)  # markers checked before anything runs
            found.append(Migration(f"{source}/{path.name}", path, text))
    return found


async def _lock(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", _LOCK_NAMESPACE, schema
    )


async def _ensure_ledger(conn: asyncpg.Connection, schema: str) -> None:
    async with conn.transaction():
        await _lock(conn, schema)
        exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        if not exists:
            # Only reached where the schema was not provisioned (PGlite, a bare server).
            await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " id text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )


async def migrate(
    conn: asyncpg.Connection, schema: str, sources: Sequence[tuple[str, Path]]
) -> list[str]:
    """Apply pending migrations to `schema`; return the ids applied (empty = up to date).

    Statements run with `search_path = <schema>, public`, so files need not qualify names.
    """
    if not _IDENT.match(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    migrations = collect(sources)
    await _ensure_ledger(conn, schema)
    timescale = await has_timescaledb(conn)
    applied: list[str] = []
    for migration in migrations:
        async with conn.transaction():
            await _lock(conn, schema)
            recorded = await conn.fetchval(
                f"SELECT checksum FROM {schema}.schema_migrations WHERE id = $1", migration.id
            )
            if recorded is not None:
                if recorded != migration.checksum:
                    raise MigrationError(
                        f"{migration.id} was applied to schema {schema!r} with checksum "
                        f"{recorded[:12]}… but the file now has {migration.checksum[:12]}…; "
                        "applied migrations must not change: add a new file instead"
                    )
                continue
            await conn.execute(f"SET LOCAL search_path TO {schema}, public")
            body = strip_timescale_blocks(migration.text, keep=timescale)
            try:
                await conn.execute(body)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{migration.id} failed: {exc}") from exc
            await conn.execute(
                f"INSERT INTO {schema}.schema_migrations (id, checksum) VALUES ($1, $2)",
                migration.id,
                migration.checksum,
            )
            applied.append(migration.id)
    return applied
