"""The fault matrix of `titan demo --chaos SEED`: many SIGKILLs, broker kills, PostgreSQL
crash-stops and poison records in one run, which must still give a clean run's digests.

`--kills N` SIGKILLs services N times in all (spread evenly over them, each restarted at
once); `--broker-kills N` SIGKILLs the broker's JVM and starts it again on the same ports and
data folder; `--postgres-stops N` stops PostgreSQL with `pg_ctl stop -m immediate` (a crash:
WAL replays at the next start) and starts it again; `--poison RATE` keeps that share of
poison records on every topic the services consume (titan/poisoner.py). Services wait out
the outages themselves; one that exits anyway is restarted by the demo, as its supervisor,
and counted. The JSON summary's `chaos` object gives every figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.infra.kafka import start_kafka, wait_kafka_ready
from shared.infra.postgres import PostgresCluster, pg_ctl, start_cluster
from shared.infra.process import pid_alive
from shared.infra.state import LocalInfra, save_state
from shared.runtime.endpoints import lookup_endpoint
from titan.chaos import Chaos
from titan.local_services import health
from titan.pipeline import Pipeline
from titan.poisoner import Poisoner

READY_TIMEOUT_S = 120.0  # after the run, every service must answer /readyz within this


@dataclass(frozen=True)
class FaultPlan:
    kills: int = 0
    broker_kills: int = 0
    postgres_stops: int = 0
    poison: float = 0.0

    @property
    def active(self) -> bool:
        return bool(self.kills or self.broker_kills or self.postgres_stops or self.poison)


@dataclass
class InfraFaults:
    """Broker kills and PostgreSQL crash-stops, each followed by a restart on the same
    ports, data and credentials (what `titan infra up` restores after a crash)."""

    infra: LocalInfra
    rng: random.Random
    broker_kills: int = 0
    postgres_stops: int = 0
    outages_s: list[tuple[str, float]] = field(default_factory=list)

    async def run(self, plan: FaultPlan) -> None:
        faults = ["kafka"] * plan.broker_kills + ["postgres"] * plan.postgres_stops
        self.rng.shuffle(faults)
        for fault in faults:
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            if fault == "kafka":
                await self.kill_broker()
            else:
                await self.stop_postgres()

    async def kill_broker(self) -> None:
        kafka = self.infra.kafka
        assert kafka is not None
        down = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(kafka.pid, signal.SIGKILL)
        await _gone(kafka.pid)
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        broker = await asyncio.to_thread(
            start_kafka, Path(kafka.data_dir), port=kafka.port,
            controller_port=kafka.controller_port, version=kafka.version,
        )  # fmt: skip
        await wait_kafka_ready(broker)
        kafka.pid = broker.pid
        save_state(self.infra)  # `titan infra status` sees it running again
        self.broker_kills += 1
        self.outages_s.append(("kafka", round(time.monotonic() - down, 1)))

    async def stop_postgres(self) -> None:
        pg = self.infra.postgres
        assert pg is not None
        down = time.monotonic()
        cluster = PostgresCluster(Path(pg.base_dir), pg.port, Path(pg.bindir))
        await asyncio.to_thread(pg_ctl, cluster.data_dir, "-m", "immediate", "-w", "stop",
                                bindir=cluster.bindir)  # fmt: skip
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        pg.pid = await asyncio.to_thread(start_cluster, cluster)
        save_state(self.infra)
        self.postgres_stops += 1
        self.outages_s.append(("postgres", round(time.monotonic() - down, 1)))


async def _gone(pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not pid_alive(pid):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"process {pid} still alive {timeout_s:.0f} s after SIGKILL")


def _reap(pid: int) -> None:
    """Collect the exit status if this process started it (else it stays a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class FaultRun:
    """One demo run under a FaultPlan: started with the services, the infrastructure faults
    once the replay is produced, then the figures for the summary."""

    plan: FaultPlan
    chaos: Chaos
    pipeline: Pipeline
    infra: LocalInfra
    infra_faults: InfraFaults = field(init=False)
    poisoner: Poisoner | None = field(init=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    _killer: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.infra_faults = InfraFaults(self.infra, random.Random(self.chaos.seed + 1))
        self.poisoner = Poisoner(self.pipeline, self.plan.poison) if self.plan.poison else None
        self.pipeline.supervise = True
        # The demo's own clients (signal watcher, poisoner) log every refused connection while
        # the broker is down on purpose: noise here, not news.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    def start(self) -> None:
        """With the services: the SIGKILLs, the supervisor and the poisoner."""
        self._killer = asyncio.create_task(self.chaos.kill_spread(self.pipeline, self.plan.kills))
        self._tasks.append(asyncio.create_task(self._supervise()))
        if self.poisoner is not None:
            self._tasks.append(asyncio.create_task(self.poisoner.run(self._stop)))

    async def _supervise(self) -> None:
        while not self._stop.is_set():
            self.pipeline.check_alive()
            await asyncio.sleep(0.5)

    async def after_replay(self) -> None:
        """The broker and database faults, the rest of the SIGKILLs, then the last poison."""
        await self.infra_faults.run(self.plan)
        if self._killer is not None:
            await self._killer
        self._stop.set()
        await asyncio.gather(*self._tasks)
        await self.last_poison()

    async def last_poison(self) -> bool:
        """Top the poison up to its share of every topic as it stands; True if any was sent
        (the demo then drains once more: services may have written more since the faults)."""
        if self.poisoner is None:
            return False
        before = sum(len(keys) for keys in self.poisoner.sent.values())
        for _ in range(10):  # the broker is up by now; a round may still time out
            if await self.poisoner.top_up_once():
                break
        return sum(len(keys) for keys in self.poisoner.sent.values()) > before

    def cancel(self) -> None:
        for task in [*self._tasks, *([self._killer] if self._killer else [])]:
            task.cancel()

    async def figures(self, home: Path) -> dict[str, Any]:
        """After the drain: what was done, and the state the pipeline was left in."""
        kills = Counter(name.split(".")[0] for name in self.chaos.kills)
        return {
            "kills": dict(sorted(kills.items())),
            "broker_kills": self.infra_faults.broker_kills,
            "postgres_stops": self.infra_faults.postgres_stops,
            "outages_s": self.infra_faults.outages_s,
            "restarts": dict(sorted(self.pipeline.restarts.items())),
            "poison": await self.poisoner.audit() if self.poisoner else {},
            "poison_rounds_failed": self.poisoner.failed_rounds if self.poisoner else 0,
            "final_lag": await self.pipeline.lag(),
            "health": await service_health(self.pipeline, home),
        }


async def service_health(pipeline: Pipeline, home: Path) -> dict[str, str]:
    """Every service's process alive and its /readyz answering 200 ("ready"), waited for:
    a service restarted by the last kill may still be starting."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        pipeline.check_alive()
        states = {s: await asyncio.to_thread(health, lookup_endpoint(s, home))
                  for s in pipeline.services}  # fmt: skip
        if all(v == "ready" for v in states.values()) or time.monotonic() > deadline:
            return states
        await asyncio.sleep(1.0)


def add_fault_arguments(parser: Any) -> None:
    """`titan demo`'s fault options (with --chaos SEED)."""
    parser.add_argument("--kills", type=_count, default=None, metavar="N",
                        help="with --chaos: N SIGKILLs spread over the services, instead of "
                        "one each")  # fmt: skip
    parser.add_argument("--broker-kills", type=_count, default=0, metavar="N",
                        help="with --chaos: SIGKILL the Kafka broker N times and restart it")  # fmt: skip
    parser.add_argument("--postgres-stops", type=_count, default=0, metavar="N",
                        help="with --chaos: pg_ctl stop -m immediate N times, then start")  # fmt: skip
    parser.add_argument("--poison", type=_rate, default=0.0, metavar="RATE",
                        help="with --chaos: share of poison records on every consumed topic "
                        "(e.g. 0.01)")  # fmt: skip


MAX_FAULTS = 1000
MAX_POISON_RATE = 0.5


def _count(raw: str) -> int:
    import argparse

    try:
        n = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if not 0 <= n <= MAX_FAULTS:
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_FAULTS}, got {n}")
    return n


def _rate(raw: str) -> float:
    import argparse
    import math

    try:
        rate = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {raw!r}") from None
    if not (math.isfinite(rate) and 0.0 <= rate <= MAX_POISON_RATE):
        raise argparse.ArgumentTypeError(f"expected 0 to {MAX_POISON_RATE}, got {raw}")
    return rate


def plan_from(args: Any) -> FaultPlan | str:
    """The fault plan of `titan demo`'s options, or why they do not go together."""
    plan = FaultPlan(args.kills or 0, args.broker_kills, args.postgres_stops, args.poison)
    if args.kills is None and not plan.active:
        return FaultPlan()
    if args.chaos is None:
        return "--kills, --broker-kills, --postgres-stops and --poison need --chaos SEED"
    if args.offline:
        return "fault options need live services (not --offline)"
    return plan
