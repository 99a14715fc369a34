"""Ingest benchmark: sustained ticks/s through market_data vs a bare aiokafka consumer.

Run: python bench/ingest.py [--ticks 1000000] [--symbols 50]
Uses the servers of `titan infra up` when they run, else starts its own. The service runs as
a child process (`titan run market-data`, intervals 1m,1h,1d) on a fresh database; its rate is
ticks / (time from its first stored offset to the last), so start-up is not counted, and
its peak RSS (the service's process and its decode worker together) is sampled with
psutil. The bare consumer reads the same topic, same partitions, counting records without
decoding them (median of three passes). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import numpy as np
import psutil
from aiokafka import AIOKafkaConsumer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._infra import bench_infra
from services.market_data.feeds.kafka_producer import produce_ticks
from services.market_data.feeds.replay import FeedTick
from shared.infra.kafka import ensure_topics
from shared.infra.postgres import dsn_with
from shared.infra.provision import ensure_database, ensure_schemas
from shared.topic_partitions import resolved_topics
from shared.topics import all_topics
from titan.processes import spawn_service


def synthetic_ticks(n: int, n_symbols: int, seed: int = 1) -> list[FeedTick]:
    """Random-walk trades, ~4 per second per symbol, in time order."""
    rng = np.random.default_rng(seed)
    symbols = [f"S{i:03d}" for i in range(n_symbols)]
    start = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
    sym_idx = rng.integers(0, n_symbols, n)
    steps = np.cumsum(rng.exponential(1.0 / (4 * n_symbols), n))
    prices = 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, (n, 1)), axis=0)[:, 0])
    sizes = rng.integers(1, 500, n).astype(float)
    return [
        FeedTick(
            symbols[s],
            start + timedelta(seconds=float(t)),
            float(round(p, 4)),
            float(q),
            f"bench:{i}",
            "bench",
        )
        for i, (s, t, p, q) in enumerate(zip(sym_idx, steps, prices, sizes, strict=True))
    ]


async def bare_consumer_rate(bootstrap: str, topic: str, total: int) -> float:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=f"bench-bare-{secrets.token_hex(3)}",
        auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=5000,
        max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=32 * 1024 * 1024,
    )  # fmt: skip
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            n = sum(len(v) for v in batch.values())
            if n and started is None:
                started = time.perf_counter()
            seen += n
        assert started is not None
        return total / (time.perf_counter() - started)
    finally:
        await consumer.stop()


POLL_S = 0.05


def tree_rss(process: psutil.Process) -> list[int]:
    """RSS of the service and of each of its children (the decode worker)."""
    sizes = []
    for p in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            sizes.append(p.memory_info().rss)
    return sizes


async def stored_offsets(probe: asyncpg.Connection) -> int:
    """The service's stored offsets, read on one long-lived connection: a connection per
    poll (20 a second) forks a PostgreSQL backend each time, CPU taken from the service."""
    try:
        return int(
            await probe.fetchval("SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets")
        )
    except asyncpg.UndefinedTableError:
        return 0


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 1M: the service's measured window is then ~5 s, long enough that one pause of this VM
    # or one slow fetch does not decide the figure (400k gave ~2 s and ratios 0.30-0.38).
    parser.add_argument("--ticks", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=50)
    args = parser.parse_args()
    async with bench_infra() as (bootstrap, admin_dsn):
        prefix = f"bench{secrets.token_hex(3)}."
        names = {s.name: prefix + s.name for s in all_topics()}
        await ensure_topics(bootstrap, resolved_topics(), names=names)
        database = f"titan_bench_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(admin_dsn)
        await ensure_database(admin, database)
        await admin.close()
        dsn = dsn_with(
            admin_dsn, user=_user(admin_dsn), password=_password(admin_dsn), database=database
        )
        db = await asyncpg.connect(dsn)
        await ensure_schemas(db)
        await db.close()

        ticks = synthetic_ticks(args.ticks, args.symbols)
        topic = names["market.ticks.v1"]
        t0 = time.perf_counter()

        async def batches(rows: list[FeedTick]) -> AsyncIterator[list[FeedTick]]:
            for i in range(0, len(rows), 20_000):
                yield rows[i : i + 20_000]

        await produce_ticks(batches(ticks), {"bootstrap_servers": bootstrap}, topic=topic)
        produce_s = time.perf_counter() - t0
        del ticks

        # One pass reads the topic in 1-2 s and varies +-30 % run to run: the median of three
        # passes (each a fresh group from the start) is the baseline.
        passes = [await bare_consumer_rate(bootstrap, topic, args.ticks) for _ in range(3)]
        bare = float(np.median(passes))
        print(f"bare consumer passes: {[round(p) for p in passes]} /s", file=sys.stderr)

        env = {
            **os.environ,
            "TITAN_DATABASE_URL": dsn,
            "TITAN_KAFKA_BOOTSTRAP": bootstrap,
            "TITAN_TOPIC_PREFIX": prefix,
            "TITAN_BAR_INTERVALS": "1m,1h,1d",
            "TITAN_HOME": (home := tempfile.mkdtemp(prefix="titan-bench-home-")),
            "TITAN_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
        }
        log_path = Path(home) / "market_data.log"
        # Popen returns at once (the child is polled below): nothing blocks the loop here.
        proc = spawn_service("market_data", env, log_path)
        ps = psutil.Process(proc.pid)
        peak_rss = peak_main_rss = 0
        first_at = None
        first_offset = 0
        done_at = None
        probe = await asyncpg.connect(dsn, server_settings={"search_path": "market_data"})
        # 600 s of polls, counted rather than timed: this sandbox's clocks jump when its VM
        # is paused, and a jump must not end the run.
        for _ in range(int(600 / POLL_S)):
            sizes = tree_rss(ps)
            peak_rss = max(peak_rss, sum(sizes))
            peak_main_rss = max(peak_main_rss, sizes[0] if sizes else 0)
            stored = await stored_offsets(probe)
            if stored and first_at is None:
                first_at, first_offset = time.perf_counter(), stored
            if stored >= args.ticks:
                done_at = time.perf_counter()
                break
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise SystemExit(f"market_data exited with {proc.returncode}:\n{tail}")
            await asyncio.sleep(POLL_S)
        await probe.close()
        proc.terminate()
        proc.wait(timeout=60)
        if done_at is None or first_at is None:
            raise SystemExit("market_data did not consume the ticks in 600 s")
        rate = (args.ticks - first_offset) / (done_at - first_at)
        admin = await asyncpg.connect(admin_dsn)
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.close()
        print(
            f"produced {args.ticks} ticks in {produce_s:.1f}s; service {rate:,.0f} ticks/s; "
            f"bare consumer {bare:,.0f}/s; peak RSS {peak_rss / 2**20:.0f} MB "
            f"(service process alone {peak_main_rss / 2**20:.0f} MB)",
            file=sys.stderr,
        )
        print(json.dumps({
            "ticks_per_s": round(rate, 1),
            "bare_consumer_per_s": round(bare, 1),
            "ratio": round(rate / bare, 4),
            "peak_rss_mb": round(peak_rss / 2**20, 1),
        }))  # fmt: skip


def _user(dsn: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(dsn).username or "postgres")


def _password(dsn: str) -> str:
    from urllib.parse import unquote, urlsplit

    return unquote(urlsplit(dsn).password or "")


if __name__ == "__main__":
    asyncio.run(main())
