"""Helpers for integration tests: read topics, wait for a consumer, run services.

Nothing here mocks Kafka or PostgreSQL: every helper talks to the real servers the
session fixtures started.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.runtime.send_watermarks import send_watermark as send_to_partitions
from shared.runtime.service import ServiceDefinition, ServiceRunner
from shared.runtime.watermarks import END_OF_INPUT_US, is_watermark
from shared.settings import KafkaSettings, ServiceSettings
from tests.process_signals import catches_sigterm
from titan.processes import spawn_service

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def json(self) -> Any:
        return json.loads(self.value)


async def partitions(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    # A producer's partitions_for() waits for the topic's metadata, which a fresh consumer's
    # partitions_for_topic() does not.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        return [
            TopicPartition(t, p) for t in topics for p in sorted(await producer.partitions_for(t))
        ]
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    tps = await partitions(bootstrap, topics)
    assert tps, f"no partitions found for {topics}"
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def read_topic(
    bootstrap: str, topic: str, timeout_s: float = 30.0, *, watermarks: bool = False
) -> list[Record]:
    """Every record on `topic` up to its end offsets at the time of the call (watermark
    control records only with `watermarks`)."""
    ends = await end_offsets(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[Record] = []
    try:
        tps = [TopicPartition(t, p) for (t, p) in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[(tp.topic, tp.partition)] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for tp, messages in batch.items():
                for m in messages:
                    if m.offset < ends[(tp.topic, tp.partition)] and (
                        watermarks or not is_watermark(m.headers)
                    ):
                        records.append(
                            Record(
                                m.topic,
                                m.partition,
                                m.offset,
                                m.key,
                                m.value or b"",
                                {k: v for k, v in (m.headers or ())},
                            )
                        )
                if await consumer.position(tp) >= ends[(tp.topic, tp.partition)]:
                    remaining.discard(tp)
        assert not remaining, f"could not read {topic} to its end in {timeout_s}s"
    finally:
        await consumer.stop()
    return records


async def send_watermark(
    bootstrap: str, topics: Sequence[str], watermark_us: int = END_OF_INPUT_US
) -> None:
    """A producer's promise on every partition of `topics` (default: the end of input)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic in topics:
            await send_to_partitions(producer, topic, watermark_us, "test-feed")
        await producer.flush()
    finally:
        await producer.stop()


async def wait_consumed(
    dsn: str,
    schema: str,
    ends: dict[tuple[str, int], int],
    timeout_s: float = 120.0,
    group: str | None = None,
) -> None:
    """Until the service's stored offsets (its own table) reach `ends`."""
    deadline = time.monotonic() + timeout_s
    wanted = {k: v for k, v in ends.items() if v > 0}
    assert wanted, f"nothing to wait for: end offsets {ends}"
    last: dict[tuple[str, int], int] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
            try:
                rows = await conn.fetch(
                    "SELECT group_id, topic, partition, next_offset FROM consumer_offsets"
                )
            finally:
                await conn.close()
            last = {
                (r["topic"], r["partition"]): r["next_offset"]
                for r in rows
                if group is None or r["group_id"] == group
            }
            if all(last.get(tp, 0) >= off for tp, off in wanted.items()):
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"not consumed in {timeout_s}s: stored {last}, wanted {wanted}")


async def wait_outbox_sent(dsn: str, schema: str, timeout_s: float = 60.0) -> None:
    """Until the service's outbox has no unsent rows: a batch committed just before a
    SIGKILL is published by the next process's relay, so comparing topics before this
    would race it."""
    deadline = time.monotonic() + timeout_s
    unsent = -1
    while time.monotonic() < deadline:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
        try:
            unsent = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        finally:
            await conn.close()
        if unsent == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{unsent} outbox rows still unsent after {timeout_s}s")


@contextlib.asynccontextmanager
async def running_service(
    definition: ServiceDefinition, settings: ServiceSettings, kafka: KafkaSettings
) -> AsyncIterator[ServiceRunner]:
    """A service in this event loop; stopped (as on SIGTERM) when the block ends."""
    runner = ServiceRunner(definition, settings, kafka)
    task = asyncio.create_task(runner.run())
    try:
        while runner.http_port is None:
            if task.done():
                task.result()
                raise AssertionError("service stopped during start-up")
            await asyncio.sleep(0.05)
        yield runner
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, timeout=60)


class ServiceProcess:
    """`python -m titan.cli run SERVICE` as a child process, for SIGKILL tests."""

    def __init__(self, service: str, env: dict[str, str], log_path: Path) -> None:
        self.service = service
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = spawn_service(self.service, self.env, self.log_path, cwd=REPO)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        assert self.proc is not None
        # A SIGTERM that lands while the interpreter is still importing kills the child with
        # the default action (-15) before its handler exists; that is start-up, not shutdown.
        _wait_until_sigterm_caught(self.proc, timeout_s=30)
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def diagnosis(self, dsn: str) -> str:
        """The service's asyncio task stacks (SIGUSR1 logs them) and its database sessions."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGUSR1)
            await asyncio.sleep(1.0)  # the loop logs the stacks at its next turn
        sessions: list[str] = []
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(dsn)
            try:
                rows = await conn.fetch(
                    """SELECT pid, state, wait_event_type, wait_event, xact_start,
                              left(query, 160) AS query
                       FROM pg_stat_activity
                       WHERE datname = current_database() AND pid <> pg_backend_pid()"""
                )
            finally:
                await conn.close()
            sessions = [str(dict(r)) for r in rows]
        log_tail = self.log_path.read_text(errors="replace")[-6000:]
        return "database sessions:\n" + "\n".join(sessions) + "\nservice log:\n" + log_tail


def _wait_until_sigterm_caught(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if catches_sigterm(proc.pid):
                return
        except OSError:
            return  # no procfs here: nothing to wait on
        time.sleep(0.05)


async def wait_consumed_by(
    proc: ServiceProcess,
    dsn: str,
    schema: str,
    ends: dict[tuple[str, int], int],
    timeout_s: float,
) -> None:
    """wait_consumed for a service in a child process; a timeout says what it waited on."""
    try:
        await wait_consumed(dsn, schema, ends, timeout_s)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await proc.diagnosis(dsn)}") from None


async def stored_progress(dsn: str, schema: str) -> int:
    """Sum of the service's stored next offsets (0 before its tables exist)."""
    try:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    except (OSError, asyncpg.PostgresError):
        return 0
    try:
        value = await conn.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        return int(value)
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def kill_mid_stream(
    proc: ServiceProcess, dsn: str, schema: str, total: int, kills: int, rng: random.Random
) -> int:
    """Start the service and SIGKILL it `kills` times, spread over the stream of `total`
    records: the i-th kill once the stored offsets pass about i/(kills+1) of it (jittered,
    and always past what the previous start left, so every start does some work). Batches
    commit every few milliseconds, so kills land between and inside transactions. Returns
    the progress (sum of stored offsets) the last kill left; the service is left stopped."""
    progress = 0
    for i in range(1, kills + 1):
        proc.start()
        share = i / (kills + 1) + rng.uniform(-0.25, 0.25) / (kills + 1)
        target = max(progress + 1, int(share * total))
        deadline = time.monotonic() + 90
        # Polled every 10 ms: a fast service commits hundreds of records per 100 ms.
        while (progress := await stored_progress(dsn, schema)) < target:
            if time.monotonic() > deadline or not proc.alive():
                raise AssertionError(
                    f"no progress to {target} in 90 s: {proc.log_path.read_text()[-3000:]}"
                )
            await asyncio.sleep(0.01)
        proc.kill()
        # Read again: batches committed since the poll count too, so the caller learns what
        # the next start really has left to do.
        progress = await stored_progress(dsn, schema)
    return progress
