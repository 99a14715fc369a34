"""`titan infra up|down|status` as functions: the CLI and the test fixtures share them."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

from shared.infra import kafka as kafka_mod
from shared.infra import pglite as pglite_mod
from shared.infra import postgres as pg_mod
from shared.infra.ports import free_port
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


async def _up_kafka(home: Path, opts: UpOptions) -> KafkaState:
    # Resolved first: a bad TITAN_TOPIC_PARTITIONS* fails before a broker is started.
    topics = resolved_topics() if opts.create_topics else ()
    broker = kafka_mod.start_kafka(home / "kafka", port=opts.kafka_port)
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
        # Fresh role passwords at every `up`: a leaked state file from an old run is stale.
        passwords = {s: pg_mod.new_password() for s in pg_mod.SERVICES}
        timescale = await provision(
            cluster.admin_dsn(admin_pw, "postgres"), cluster.admin_dsn(admin_pw), pg_mod.DATABASE,
            passwords,
        )  # fmt: skip
    except BaseException:
        pg_mod.stop_cluster(cluster.data_dir, cluster.bindir)
        raise
    return PostgresState(pid, port, str(cluster.base_dir), str(cluster.bindir), pg_mod.DATABASE,
                         admin_pw, passwords, timescale)  # fmt: skip


async def _add_new_services(pg: PostgresState) -> list[str]:
    """A cluster started before a service existed (portfolio, the sixth) lacks its role and
    schema: provision the missing ones, so `titan demo` runs on infrastructure left up."""
    missing = [s for s in pg_mod.SERVICES if s not in pg.service_passwords]
    if not missing:
        return []
    passwords = {s: pg_mod.new_password() for s in missing}
    await provision(
        pg_mod.make_dsn(pg.host, pg.port, pg_mod.ADMIN_USER, pg.admin_password, "postgres"),
        pg_mod.make_dsn(pg.host, pg.port, pg_mod.ADMIN_USER, pg.admin_password, pg.database),
        pg.database, passwords,
    )  # fmt: skip
    pg.service_passwords.update(passwords)
    return missing


async def up(home: Path, opts: UpOptions) -> tuple[LocalInfra, list[str]]:
    """Start what is asked and not yet running; returns the state and what was started."""
    infra = load_local_infra(home) or LocalInfra(home=home)
    await asyncio.to_thread(home.mkdir, parents=True, exist_ok=True)
    started: list[str] = []
    running = infra.running()
    try:
        if opts.kafka and not running["kafka"]:
            infra.kafka = await _up_kafka(home, opts)
            started.append("kafka")
            save_state(infra)
        if opts.postgres and not running["postgres"]:
            infra.postgres = await _up_postgres(home, opts, infra.postgres)
            started.append("postgres")
            save_state(infra)
        elif opts.postgres and infra.postgres and await _add_new_services(infra.postgres):
            save_state(infra)
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
    infra.kafka = infra.pglite = None
    if infra.postgres:
        infra.postgres.pid = 0
    save_state(infra)
    return stopped
