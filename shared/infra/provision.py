"""Roles, database and schemas of the contract: each service owns one schema through one
login role, and can neither read nor write any other service's schema."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from shared.infra.postgres import SERVICES, _check_ident, _check_password, role_for


async def ensure_roles(admin: asyncpg.Connection, passwords: Mapping[str, str]) -> None:
    """Create (or re-password) `titan_<service>` login roles; roles are cluster-wide."""
    for service, password in passwords.items():
        role = _check_ident(role_for(service))
        pw = _check_password(password)
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        await admin.execute(f"{verb} ROLE {role} LOGIN NOINHERIT PASSWORD '{pw}'")
        await admin.execute(f"ALTER ROLE {role} SET search_path = {_check_ident(service)}, public")


async def ensure_database(
    admin: asyncpg.Connection, database: str, template: str | None = None
) -> bool:
    """CREATE DATABASE when missing (optionally from a template); True if created."""
    _check_ident(database)
    if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
        return False
    suffix = f" TEMPLATE {_check_ident(template)}" if template else ""
    await admin.execute(f"CREATE DATABASE {database}{suffix}")
    return True


# Services whose writes stage in temporary tables.
TEMP_TABLE_SERVICES = ("market_data",)


async def secure_database(
    admin: asyncpg.Connection, database: str, services: tuple[str, ...] = SERVICES
) -> None:
    """Only the service roles (and the admin) may connect. Database ACLs are not copied
    from a template, so this runs for every database created."""
    _check_ident(database)
    await admin.execute(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
    for service in services:
        # Temporary tables only where a service stages with them (market_data's COPY).
        rights = "CONNECT, TEMPORARY" if service in TEMP_TABLE_SERVICES else "CONNECT"
        await admin.execute(f"GRANT {rights} ON DATABASE {database} TO {role_for(service)}")


async def lock_down_cluster(admin: asyncpg.Connection) -> None:
    """Service logins reach their own database only: PostgreSQL lets every role connect to
    `postgres` and `template1` (and make temporary tables there) unless told otherwise."""
    for database in ("postgres", "template1"):
        await admin.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC")


async def ensure_schemas(
    db: asyncpg.Connection, services: tuple[str, ...] = SERVICES, *, timescale: bool = True
) -> bool:
    """In the database `db` is connected to (as admin): lock down `public`, create one
    schema per service owned by its role, and TimescaleDB when the server has it.
    Returns whether timescaledb is installed in the database."""
    await db.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    for service in services:
        schema, role = _check_ident(service), role_for(service)
        await db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {role}")
        await db.execute(f"ALTER SCHEMA {schema} OWNER TO {role}")
        await db.execute(f"REVOKE ALL ON SCHEMA {schema} FROM PUBLIC")
        # Extension functions (time_bucket, create_hypertable) live in public.
        await db.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    if timescale and await db.fetchval(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
    ):
        await db.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    return bool(await db.fetchval("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'"))


async def provision(admin_dsn_postgres_db: str, admin_dsn_target_db: str, database: str,
                    passwords: Mapping[str, str]) -> bool:  # fmt: skip
    """Roles, database `database`, its ACL and schemas; idempotent. Returns timescale flag."""
    admin = await asyncpg.connect(admin_dsn_postgres_db)
    try:
        await ensure_roles(admin, passwords)
        await lock_down_cluster(admin)
        await ensure_database(admin, database)
        await secure_database(admin, database, tuple(passwords))
    finally:
        await admin.close()
    db = await asyncpg.connect(admin_dsn_target_db)
    try:
        return await ensure_schemas(db, tuple(passwords))
    finally:
        await db.close()
