"""The signals store contract on real PostgreSQL (the same checks as the in-memory fake)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

from services.signals.bootstrap import MIGRATIONS
from services.signals.store import PostgresSignalsStore, SignalsStore
from shared.runtime.service import RUNTIME_MIGRATIONS
from tests.unit.signals_service.store_contract import CHECKS, StoreFactory

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(loop_scope="session")
async def new_pg_store(
    fresh_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[StoreFactory]:
    from shared.db.migrations import migrate

    conns: list[asyncpg.Connection] = []

    async def make() -> SignalsStore:
        dsn = await fresh_database("signals")
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "signals"})
        conns.append(conn)
        await migrate(conn, "signals", [RUNTIME_MIGRATIONS, ("signals", MIGRATIONS)])
        return PostgresSignalsStore(conn)

    yield make
    for conn in conns:
        await conn.close()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
async def test_postgres_store_meets_the_contract(check: object, new_pg_store: StoreFactory) -> None:
    await check(new_pg_store)  # type: ignore[operator]
