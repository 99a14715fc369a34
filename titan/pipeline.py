"""Run the whole pipeline on one machine: services as child processes on the local infra.

Used by `titan demo`: a fresh topic prefix and a fresh database per run, so runs never see
each other's events or tables; the infrastructure itself stays up until `titan infra down`.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.infra.kafka import ensure_topics
from shared.infra.postgres import ADMIN_USER, dsn_with, role_for
from shared.infra.provision import ensure_database, ensure_schemas, secure_database
from shared.infra.state import LocalInfra
from shared.topic_partitions import resolved_topics
from shared.topics import (
    BACKTEST_REQUESTS,
    MARKET_BARS,
    MARKET_TICKS,
    PAIRS_LIFECYCLE,
    PAIRS_SPREADS,
    PARAMS,
    REGIME_SHIFTS,
    SIGNALS,
    all_topics,
)
from titan.processes import ServiceProcesses

# Each service and the contract topics it consumes: "done" means every service's stored
# offsets reached the end of each of its input topics.
SERVICE_INPUTS: dict[str, tuple[str, ...]] = {
    "market_data": (MARKET_TICKS.name,),
    "pairs": (MARKET_BARS.name,),
    "regime": (MARKET_BARS.name, PAIRS_SPREADS.name),
    "signals": (PAIRS_SPREADS.name, PAIRS_LIFECYCLE.name, REGIME_SHIFTS.name, PARAMS.name),
    "backtest": (BACKTEST_REQUESTS.name, PAIRS_LIFECYCLE.name),
    "portfolio": (MARKET_BARS.name, PAIRS_LIFECYCLE.name, SIGNALS.name),
}

# Started beside the services by `titan up` and `titan demo --keep-running` (titan status
# lists them with their URL): the web console, a read-only gateway (services/console).
GATEWAYS: tuple[str, ...] = ("console",)
# A supervised service that dies more often than this is in a crash loop: the run fails.
MAX_RESTARTS = 30


@dataclass
class Pipeline:
    infra: LocalInfra
    services: tuple[str, ...]
    log_dir: Path
    prefix: str = field(default_factory=lambda: f"demo{secrets.token_hex(3)}.")
    database: str = field(default_factory=lambda: f"titan_demo_{secrets.token_hex(4)}")
    extra_env: dict[str, str] = field(default_factory=dict)
    replicas: int = 1  # processes per service, each a member of the service's consumer group
    detached: bool = False  # services outlive this process (titan up, demo --keep-running)
    # Processes beside the services that hold no state and consume no input (the web console):
    # one each, started and stopped with the services, left out of the drain and lag checks.
    gateways: tuple[str, ...] = ()
    # Restart a service that exited instead of failing (fault runs: its supervisor's role);
    # `restarts` counts them per instance.
    supervise: bool = False
    restarts: dict[str, int] = field(default_factory=dict)
    processes: ServiceProcesses = field(init=False)
    _extras: dict[str, dict[str, str]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.processes = ServiceProcesses(self.log_dir, detached=self.detached)

    @property
    def bootstrap(self) -> str:
        assert self.infra.kafka_bootstrap is not None
        return self.infra.kafka_bootstrap

    def topic(self, contract_name: str) -> str:
        return self.prefix + contract_name

    def admin_dsn(self, database: str | None = None) -> str:
        assert self.infra.postgres is not None and self.infra.admin_dsn is not None
        pg = self.infra.postgres
        return dsn_with(self.infra.admin_dsn, user=ADMIN_USER, password=pg.admin_password,
                        database=database or pg.database)  # fmt: skip

    def service_dsn(self, service: str) -> str:
        assert self.infra.postgres is not None
        password = self.infra.postgres.service_passwords[service]
        return dsn_with(self.admin_dsn(), user=role_for(service), password=password,
                        database=self.database)  # fmt: skip

    async def prepare(self) -> None:
        names = {s.name: self.topic(s.name) for s in all_topics()}
        await ensure_topics(self.bootstrap, resolved_topics(), names=names)
        admin = await asyncpg.connect(self.admin_dsn())
        try:
            await ensure_database(admin, self.database)
            await secure_database(admin, self.database)
        finally:
            await admin.close()
        db = await asyncpg.connect(self.admin_dsn(self.database))
        try:
            await ensure_schemas(db)
        finally:
            await db.close()

    def service_env(self, service: str) -> dict[str, str]:
        return {
            **os.environ,
            "TITAN_DATABASE_URL": self.service_dsn(service),
            "TITAN_KAFKA_BOOTSTRAP": self.bootstrap,
            "TITAN_TOPIC_PREFIX": self.prefix,
            # Pipelines on other prefixes may share this broker (a demo beside `titan up`):
            # one group name per prefix, or their members would be assigned each other's topics.
            "TITAN_CONSUMER_GROUP": f"titan-{service}"
            + (f".{self.prefix.rstrip('.')}" if self.prefix else ""),
            "TITAN_HTTP_PORT": "0",
            **{k: v for k, v in self.extra_env.items() if k not in os.environ},
        }

    def instances(self, service: str) -> list[str]:
        """Process names of a service's replicas: "signals", "signals.2", ..."""
        return [service if r == 0 else f"{service}.{r + 1}" for r in range(self.replicas)]

    def all_instances(self) -> list[str]:
        return [name for s in self.services for name in self.instances(s)]

    def start_services(self) -> None:
        for name in self.all_instances():
            self.start_service(name)
        for gateway in self.gateways:
            self.processes.start(gateway, self.gateway_env())

    def gateway_env(self) -> dict[str, str]:
        """A gateway finds the services in the run registry under TITAN_HOME and reads the
        pipeline's topics; it has no database login."""
        env = {k: v for k, v in os.environ.items() if k != "TITAN_DATABASE_URL"}
        return {**env, "TITAN_KAFKA_BOOTSTRAP": self.bootstrap,
                "TITAN_TOPIC_PREFIX": self.prefix, "TITAN_HTTP_PORT": "0"}  # fmt: skip

    def start_service(self, name: str, extra: dict[str, str] | None = None) -> None:
        """Start a service's process by instance name (a service name is its first replica)."""
        service = name.split(".")[0]
        self._extras[name] = extra or {}
        env = {**self.service_env(service), **(extra or {})}
        self.processes.start(name, env, service=service)

    def kill_service(self, name: str) -> None:
        """SIGKILL, as a crash would: no batch is finished, nothing is flushed."""
        proc = self.processes.procs.get(name)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def retire_service(self, name: str) -> int | None:
        """SIGTERM one replica for good, as a rolling restart or a scale-down would."""
        return self.processes.retire(name, timeout_s=60.0)

    def check_alive(self) -> None:
        if not self.supervise:
            self.processes.check_alive()
            return
        for name in self.processes.dead():
            self.restarts[name] = self.restarts.get(name, 0) + 1
            if self.restarts[name] > MAX_RESTARTS:
                self.processes.check_alive()  # raises with the tail of its log
            self.start_service(name, self._extras.get(name))

    def stop_services(self) -> None:
        # 60 s: each service finishes its batch in hand and commits before it exits.
        self.processes.stop(timeout_s=60.0)

    async def end_offsets(self, contract_topics: set[str]) -> dict[tuple[str, int], int]:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap)
        try:  # start inside: a start refused by a broker being restarted still closes it
            await producer.start()
            tps = [TopicPartition(self.topic(t), p) for t in sorted(contract_topics)
                   for p in sorted(await producer.partitions_for(self.topic(t)))]  # fmt: skip
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            await consumer.start()
            ends = await consumer.end_offsets(tps)
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    async def stored_offsets(self) -> dict[str, dict[tuple[str, int], int]]:
        conn = await asyncpg.connect(self.admin_dsn(self.database))
        out: dict[str, dict[tuple[str, int], int]] = {}
        try:
            for service in self.services:
                try:
                    rows = await conn.fetch(
                        f"SELECT topic, partition, next_offset FROM {service}.consumer_offsets"
                    )
                except asyncpg.UndefinedTableError:
                    rows = []
                out[service] = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
        finally:
            await conn.close()
        return out

    async def lag(self) -> dict[str, int]:
        """Records each service has yet to consume, over all its input topics."""
        inputs = {t for s in self.services for t in SERVICE_INPUTS[s]}
        ends = await self.end_offsets(inputs)
        stored = await self.stored_offsets()
        lag: dict[str, int] = {}
        for service in self.services:
            wanted = {self.topic(t) for t in SERVICE_INPUTS[service]}
            lag[service] = sum(
                end - stored[service].get(tp, 0) for tp, end in ends.items() if tp[0] in wanted
            )
        return lag

    async def wait_drained(self, timeout_s: float, on_tick: object = None) -> None:
        """Until every service has consumed everything upstream produced, twice in a row
        (a service that just caught up may still be about to publish more)."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            self.check_alive()
            lag = await self.lag()
            if callable(on_tick):
                on_tick(lag)
            quiet = quiet + 1 if all(v == 0 for v in lag.values()) else 0
            if quiet >= 3:
                return
            await asyncio.sleep(1.0)
        raise TimeoutError(f"pipeline not drained in {timeout_s:.0f} s: lag {await self.lag()}")
