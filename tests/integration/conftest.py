"""Integration-test fixtures on top of tests/fixtures_infra.py."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
import pytest_asyncio

from shared.infra.postgres import dsn_with, role_for
from shared.infra.provision import ensure_database, secure_database
from tests.integration.demo_runs import demo_home  # noqa: F401  (session fixture)
from tests.integration.running_titan import running_titan  # noqa: F401  (session fixture)

pytestmark = pytest.mark.integration
# Run last: they wait for deploy/setup.sh's background build of helm and titan-validate,
# which meanwhile uses the CPU the other integration tests leave idle.
LAST_MODULES = ("test_helm_chart.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in LAST_MODULES)  # stable: order kept otherwise


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database(
    pg_admin_dsn: str, pg_template_db: str, pg_role_passwords: dict[str, str]
) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """`await fresh_database("market_data")` -> DSN of that service's role on a new database.

    For tests that compare two runs (a clean one and a faulty one), each on its own tables.
    """
    created: list[str] = []

    async def make(service: str) -> str:
        name = f"titan_f_{secrets.token_hex(6)}"
        admin = await asyncpg.connect(pg_admin_dsn)
        try:
            await ensure_database(admin, name, template=pg_template_db)
            await secure_database(admin, name, tuple(pg_role_passwords))
        finally:
            await admin.close()
        created.append(name)
        return dsn_with(
            pg_admin_dsn, user=role_for(service), password=pg_role_passwords[service], database=name
        )

    yield make
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        for name in created:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()
