"""Session fixtures for the real infrastructure, started lazily when a test asks for them.

Order of preference for each server:
1. the environment: TITAN_KAFKA_BOOTSTRAP, TITAN_DATABASE_URL (an admin DSN),
   TITAN_PGLITE_URL;
2. local processes in a fresh temporary folder on free ports (two copies of the suite can
   run side by side), via shared.infra;
3. testcontainers, where a Docker engine runs (`pip install -e '.[docker]'`).
Everything started here is stopped at the end of the session.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from shared.infra import kafka as kafka_mod
from shared.infra import pglite as pglite_mod
from shared.infra.postgres import SERVICES, dsn_with, new_password, role_for
from shared.infra.provision import ensure_database, ensure_roles, ensure_schemas, secure_database
from shared.topic_partitions import resolved_topics
from shared.topics import all_topics


def _docker_container(kind: str) -> Any:
    """A started testcontainers container, or pytest.fail with every reason collected."""
    try:
        if kind == "kafka":
            from testcontainers.community.kafka import KafkaContainer

            container: Any = KafkaContainer("apache/kafka:4.1.1").with_kraft()
        else:
            from testcontainers.community.postgres import PostgresContainer

            container = PostgresContainer("timescale/timescaledb:2.23.0-pg16", driver=None)
        container.start()
    except Exception as exc:  # ImportError, docker.errors.DockerException, ...
        raise RuntimeError(f"testcontainers {kind}: {type(exc).__name__}: {exc}") from exc
    return container


@pytest.fixture(scope="session")
def infra_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("titan-infra")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kafka_bootstrap(infra_tmp: Path) -> AsyncIterator[str]:
    env = os.environ.get("TITAN_KAFKA_BOOTSTRAP")
    if env:
        yield env
        return
    try:
        broker = kafka_mod.start_kafka(infra_tmp / "kafka")
    except (kafka_mod.KafkaError, OSError) as local_exc:
        try:
            container = _docker_container("kafka")
        except RuntimeError as docker_exc:
            pytest.fail(f"no Kafka: local broker: {local_exc}; {docker_exc}")
        yield str(container.get_bootstrap_server())
        container.stop()
        return
    try:
        await kafka_mod.wait_kafka_ready(broker)
        yield broker.bootstrap
    finally:
        kafka_mod.stop_kafka(broker.pid)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_admin_dsn(infra_tmp: Path) -> AsyncIterator[str]:
    """Admin DSN of a server with the roles titan_<service> (db: the default one)."""
    env = os.environ.get("TITAN_DATABASE_URL")
    if env:
        yield env
        return
    from shared.infra.local import UpOptions, down, up

    home = infra_tmp / "pg-home"
    try:
        infra, _ = await up(home, UpOptions(kafka=False, postgres=True))
    except (RuntimeError, OSError) as local_exc:
        down(home, purge=True)
        try:
            container = _docker_container("postgres")
        except RuntimeError as docker_exc:
            pytest.fail(f"no PostgreSQL: local cluster: {local_exc}; {docker_exc}")
        yield str(container.get_connection_url())
        container.stop()
        return
    try:
        assert infra.admin_dsn is not None
        yield infra.admin_dsn
    finally:
        down(home, purge=True)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_role_passwords(pg_admin_dsn: str) -> dict[str, str]:
    """Fresh passwords for the service roles of this session (roles are cluster-wide)."""
    passwords = {service: new_password() for service in SERVICES}
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await ensure_roles(admin, passwords)
    finally:
        await admin.close()
    return passwords


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_template_db(pg_admin_dsn: str, pg_role_passwords: dict[str, str]) -> str:
    """A database with the schemas laid out, cloned cheaply for every test module."""
    name = f"titan_tpl_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await ensure_database(admin, name)
    finally:
        await admin.close()
    db = await asyncpg.connect(dsn_with(pg_admin_dsn, **_admin_login(pg_admin_dsn), database=name))
    try:
        await ensure_schemas(db, tuple(pg_role_passwords))
    finally:
        await db.close()
    return name


def _admin_login(dsn: str) -> dict[str, str]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(dsn)
    return {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def pg_database(
    pg_admin_dsn: str, pg_template_db: str, pg_role_passwords: dict[str, str]
) -> AsyncIterator[str]:
    """A database private to one test module, cloned from the template; dropped after."""
    name = f"titan_t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await ensure_database(admin, name, template=pg_template_db)
        await secure_database(admin, name, tuple(pg_role_passwords))
    finally:
        await admin.close()
    yield name
    admin = await asyncpg.connect(pg_admin_dsn)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture(scope="module")
def service_dsn(
    pg_admin_dsn: str, pg_database: str, pg_role_passwords: dict[str, str]
) -> Callable[[str], str]:
    """`service_dsn("pairs")` -> a DSN logging in as titan_pairs to this module's database."""

    def dsn(service: str) -> str:
        if service not in pg_role_passwords:
            raise KeyError(f"unknown service {service!r}; known: {', '.join(SERVICES)}")
        return dsn_with(
            pg_admin_dsn, user=role_for(service), password=pg_role_passwords[service],
            database=pg_database,
        )  # fmt: skip

    return dsn


@pytest.fixture(scope="module")
def pg_database_admin_dsn(pg_admin_dsn: str, pg_database: str) -> str:
    """Admin DSN of this module's private database."""
    return dsn_with(pg_admin_dsn, **_admin_login(pg_admin_dsn), database=pg_database)


class TopicSet(dict[str, str]):
    """{contract name: real name}; `.prefix` is the TITAN_TOPIC_PREFIX giving those names."""

    prefix: str = ""


@pytest_asyncio.fixture(loop_scope="session")
async def make_topics(kafka_bootstrap: str) -> Callable[..., Any]:
    """`await make_topics()` -> TopicSet {contract name: real name} with `.prefix`, all created."""

    async def make(suffix: str | None = None) -> TopicSet:
        # A prefix, not a suffix: the runtime names topics TITAN_TOPIC_PREFIX + contract name
        # and a dead-letter topic as the real name + ".dlq", which a prefix keeps consistent.
        prefix = f"t{suffix or secrets.token_hex(4)}."
        names = TopicSet({spec.name: f"{prefix}{spec.name}" for spec in all_topics()})
        names.prefix = prefix
        await kafka_mod.ensure_topics(kafka_bootstrap, resolved_topics(), names=names)
        return names

    return make


@pytest.fixture(scope="session")
def pglite_dsn(infra_tmp: Path) -> Iterator[str]:
    """PGlite with TimescaleDB (in memory). ONE connection at a time: pools of size 1."""
    env = os.environ.get("TITAN_PGLITE_URL")
    if env:
        yield env
        return
    try:
        server = pglite_mod.start_pglite(infra_tmp / "pglite")
    except pglite_mod.PgliteError as exc:
        pytest.fail(f"no PGlite: {exc}")
    try:
        yield server.dsn
    finally:
        pglite_mod.stop_pglite(server.pid)
