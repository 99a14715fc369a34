"""`titan infra up|down|status` as functions: the CLI and the test fixtures share them."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from shared.infra import kafka as kafka_mod
from shared.infra import pglite as pglite_mod
from shared.infra import postgres as pg_mod
from shared.infra.ports import free_port, port_is_free
from shared.infra.process import pid_alive
from shared.infra.provision import provision
from shared.infra.state import (
    KafkaState,
    LocalInfra,
    PgliteState,
    PostgresState,
    load_local_infra,
    save_state,
    state_path,
)
from shared.runtime.api_token import ensure_local_api_token
from shared.topic_partitions import resolved_topics


@dataclass(frozen=True)
class UpOptions:
    kafka: bool = True
    postgres: bool = True
    pglite: bool = False
    kafka_port: int | None = None
    pg_port: int | None = None
    pglite_port: int | None = None
    create_topics: bool = True


def _previous_port(port: int | None) -> int | None:
    # Clients and services already running hold this address: come back on it if it is free.
    return port if port is not None and port_is_free(port) else None


async def _up_kafka(home: Path, opts: UpOptions, previous: KafkaState | None) -> KafkaState:
    # Resolved first: a bad TITAN_TOPIC_PARTITIONS* fails before a broker is started.
    topics = resolved_topics() if opts.create_topics else ()
    port = opts.kafka_port or _previous_port(previous.port if previous else None)
    controller = _previous_port(previous.controller_port if previous else None)
    broker = kafka_mod.start_kafka(home / "kafka", port=port, controller_port=controller)
    try:
        await kafka_mod.wait_kafka_ready(broker)
        if topics:
            await kafka_mod.ensure_topics(broker.bootstrap, topics)
    except BaseException:
        kafka_mod.stop_kafka(broker.pid)
        raise
    return KafkaState(broker.pid, broker.port, broker.controller_port, str(broker.data_dir),
                      broker.version)  # fmt: skip


async def _up_postgres(
    home: Path, opts: UpOptions, previous: PostgresState | None
) -> PostgresState:
    port = opts.pg_port or (previous.port if previous else None) or free_port()
    base = Path(previous.base_dir) if previous else pg_mod.cluster_dir_for(home / "postgres")
    admin_pw = previous.admin_password if previous else pg_mod.new_password()
    cluster = pg_mod.init_cluster(base, port, admin_pw)
    pid = pg_mod.start_cluster(cluster)
    try:
        # The same role passwords as before a stop or crash, so that services still running
        # reconnect; new services get new ones (`down --purge` forgets them all).
        known = previous.service_passwords if previous else {}
        passwords = {s: known.get(s) or pg_mod.new_password() for s in pg_mod.SERVICES}
        timescale = await provision(
            cluster.admin_dsn(admin_pw, "postgres"), cluster.admin_dsn(admin_pw), pg_mod.DATABASE,
            passwords,
        )  # fmt: skip
    except BaseException:
        pg_mod.stop_cluster(cluster.data_dir, cluster.bindir)
        raise
    return PostgresState(pid, port, str(cluster.base_dir), str(cluster.bindir), pg_mod.DATABASE,
                         admin_pw, passwords, timescale)  # fmt: skip


async def _adopt_running_postgres(infra: LocalInfra) -> None:
    """A cluster already up: record its pid (a restart by hand changes it) and give the
    services added since it was provisioned their roles and schemas."""
    pg = infra.postgres
    assert pg is not None
    live = infra.postgres_pid() or 0
    missing = [s for s in pg_mod.SERVICES if s not in pg.service_passwords]
    if live == pg.pid and not missing:
        return
    pg.pid = live
    if missing:
        pg.service_passwords = {
            s: pg.service_passwords.get(s) or pg_mod.new_password() for s in pg_mod.SERVICES
        }
        admin = infra.admin_dsn
        assert admin is not None
        cluster = pg_mod.PostgresCluster(Path(pg.base_dir), pg.port, Path(pg.bindir))
        await provision(cluster.admin_dsn(pg.admin_password, "postgres"), admin, pg.database,
                        pg.service_passwords)  # fmt: skip
    save_state(infra)


async def up(home: Path, opts: UpOptions) -> tuple[LocalInfra, list[str]]:
    """Start what is asked and not yet running; returns the state and what was started."""
    infra = load_local_infra(home) or LocalInfra(home=home)
    await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
    # The services' API token, made here so the CLI and titan.client have it before any
    # service starts (a deployment's TITAN_API_TOKEN wins over the file everywhere).
    await asyncio.to_thread(ensure_local_api_token, home)
    started: list[str] = []
    running = infra.running()
    try:
        if opts.kafka and not running["kafka"]:
            infra.kafka = await _up_kafka(home, opts, infra.kafka)
            started.append("kafka")
            save_state(infra)
        if opts.postgres and not running["postgres"]:
            infra.postgres = await _up_postgres(home, opts, infra.postgres)
            started.append("postgres")
            save_state(infra)
        elif infra.postgres is not None:
            await _adopt_running_postgres(infra)
        if opts.pglite and not running["pglite"]:
            server = await asyncio.to_thread(
                pglite_mod.start_pglite, home / "pglite", data_dir=home / "pglite" / "data",
                port=opts.pglite_port,
            )  # fmt: skip
            infra.pglite = PgliteState(server.pid, server.port, str(server.data_dir),
                                       server.timescaledb_version)  # fmt: skip
            started.append("pglite")
            save_state(infra)
    finally:
        if started:
            save_state(infra)
    return infra, started


def down(home: Path, *, purge: bool = False) -> list[str]:
    """Stop everything recorded in `home`; returns what was stopped. Data folders stay
    unless `purge` (then they and the state file are removed)."""
    infra = load_local_infra(home)
    if infra is None:
        return []
    stopped: list[str] = []
    if infra.pglite and pid_alive(infra.pglite.pid):
        pglite_mod.stop_pglite(infra.pglite.pid)
        stopped.append("pglite")
    if infra.postgres and pg_mod.stop_cluster(
        Path(infra.postgres.base_dir) / "data", Path(infra.postgres.bindir)
    ):
        stopped.append("postgres")
    if infra.kafka and pid_alive(infra.kafka.pid):
        kafka_mod.stop_kafka(infra.kafka.pid)
        stopped.append("kafka")
    if purge:
        folders = [infra.kafka.data_dir if infra.kafka else None,
                   infra.postgres.base_dir if infra.postgres else None,
                   str(home / "pglite") if infra.pglite else None]  # fmt: skip
        for folder in filter(None, folders):
            shutil.rmtree(folder, ignore_errors=True)
        state_path(home).unlink(missing_ok=True)
        return stopped
    # Ports, folders and passwords stay recorded: the next `up` restores the same addresses.
    infra.pglite = None
    if infra.kafka:
        infra.kafka.pid = 0
    if infra.postgres:
        infra.postgres.pid = 0
    save_state(infra)
    return stopped
