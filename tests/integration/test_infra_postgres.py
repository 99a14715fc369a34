"""The local PostgreSQL layout: each service role owns its schema and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest

pytestmark = pytest.mark.integration


async def test_role_owns_its_schema_and_search_path(service_dsn: Callable[[str], str]) -> None:
    conn = await asyncpg.connect(service_dsn("pairs"))
    try:
        assert await conn.fetchval("SELECT current_schema()") == "pairs"
        await conn.execute("CREATE TABLE hedge (pair_id text PRIMARY KEY, ratio float8)")
        await conn.execute("INSERT INTO hedge VALUES ('KO~PEP', 0.8)")
        assert await conn.fetchval("SELECT ratio FROM pairs.hedge") == 0.8
    finally:
        await conn.close()


async def test_role_cannot_touch_another_service_schema(service_dsn: Callable[[str], str]) -> None:
    owner = await asyncpg.connect(service_dsn("market_data"))
    try:
        await owner.execute("CREATE TABLE bars (symbol text, close float8)")
        await owner.execute("GRANT SELECT ON bars TO PUBLIC")  # even a careless grant
    finally:
        await owner.close()
    intruder = await asyncpg.connect(service_dsn("signals"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await intruder.fetch("SELECT * FROM market_data.bars")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await intruder.execute("INSERT INTO market_data.bars VALUES ('X', 1)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await intruder.execute("CREATE TABLE market_data.sneaky (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await intruder.execute("CREATE TABLE public.shared_by_accident (x int)")
    finally:
        await intruder.close()


async def test_a_service_login_reaches_only_its_database_and_temp_tables_only_if_it_stages(
    service_dsn: Callable[[str], str],
) -> None:
    from urllib.parse import urlsplit, urlunsplit

    own = urlsplit(service_dsn("signals"))
    for other in ("postgres", "template1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await asyncpg.connect(urlunsplit(own._replace(path=f"/{other}")))
    signals = await asyncpg.connect(service_dsn("signals"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
            await signals.execute("CREATE TEMP TABLE scratch (x int)")
    finally:
        await signals.close()
    market_data = await asyncpg.connect(service_dsn("market_data"))  # stages its COPY there
    try:
        await market_data.execute("CREATE TEMP TABLE tick_stage_probe (x int)")
    finally:
        await market_data.close()
