"""`titan demo --chaos SEED`: the demo under the faults determinism must survive.

Services start in a random order with random pauses, each with its own random batch size
and a random delay after every batch (TITAN_FAULT_BATCH_DELAY_MS); a neighbour process keeps
one core busy the whole run; every service is killed with SIGKILL once, at a random moment,
and restarted. With several replicas per service, the last replica of each is instead
stopped for good with SIGTERM (a scale-down, or a rolling restart's first step) and the first
is SIGKILLed and restarted: partitions move twice. The digests must still equal a calm run's
and `--offline`'s (contract rule 7).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from dataclasses import dataclass, field

from titan.pipeline import Pipeline

# A killed consumer holds its partitions for the session timeout; 6 s keeps restarts quick.
CHAOS_ENV = {"TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000", "TITAN_FAULT_BATCH_DELAY_MS": "40"}


@dataclass
class Chaos:
    seed: int
    rng: random.Random = field(init=False)
    hog: subprocess.Popen[bytes] | None = None
    kills: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def service_extra(self, service: str) -> dict[str, str]:
        # market_data's batches stay large enough to keep up with the replay.
        low, high = (500, 10_000) if service == "market_data" else (20, 2_000)
        return {"TITAN_BATCH_MAX_RECORDS": str(self.rng.randint(low, high))}

    def start_hog(self) -> None:
        """A neighbour that keeps one of the two cores busy for the whole run."""
        self.hog = subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def start(self, pipeline: Pipeline) -> None:
        """The services in a random order with random pauses."""
        order = pipeline.all_instances()
        self.rng.shuffle(order)
        for name in order:
            await asyncio.sleep(self.rng.uniform(0.0, 1.5))
            pipeline.start_service(name, self.service_extra(name.split(".")[0]))

    async def kill_each_once(self, pipeline: Pipeline) -> None:
        """SIGKILL every service once at a random moment of the run, then restart it."""
        order = list(pipeline.services)
        self.rng.shuffle(order)
        for service in order:
            await asyncio.sleep(self.rng.uniform(1.0, 6.0))
            replicas = pipeline.instances(service)
            if len(replicas) > 1:
                # In a thread: the replica finishes its batch and hands its partitions over
                # (up to the grace period) while the rest of the pipeline runs on.
                await asyncio.to_thread(pipeline.retire_service, replicas[-1])
                self.retired.append(replicas[-1])
            # No await between kill and start: the demo's liveness check never sees it dead.
            pipeline.kill_service(replicas[0])
            pipeline.start_service(replicas[0], self.service_extra(service))
            self.kills.append(replicas[0])

    async def kill_spread(self, pipeline: Pipeline, count: int, mean_gap_s: float = 1.0) -> None:
        """`count` SIGKILLs spread evenly over the services (a random order, a random gap
        between two, `mean_gap_s` on average), each followed at once by a restart."""
        order = [pipeline.services[i % len(pipeline.services)] for i in range(count)]
        self.rng.shuffle(order)
        for service in order:
            await asyncio.sleep(self.rng.uniform(0.2, 2 * mean_gap_s - 0.2))
            replicas = pipeline.instances(service)
            victim = replicas[self.rng.randrange(len(replicas))]
            pipeline.kill_service(victim)
            pipeline.start_service(victim, self.service_extra(service))
            self.kills.append(victim)

    def stop(self) -> None:
        if self.hog is not None and self.hog.poll() is None:
            self.hog.kill()
            self.hog.wait()
