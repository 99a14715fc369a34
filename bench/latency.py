"""Tick-to-signal latency through the live services, against one Kafka hop in the same run.

market_data -> pairs -> signals run in this process (their real bootstraps, real Kafka and
PostgreSQL from `titan infra up` or started here). Synthetic ticks of a cointegrated pair
(B a random walk, A = 1.5 B + AR(1) spread) are produced at a steady rate, one 1-minute bar
of event time per step; a bar closes when the next bar's first tick arrives, so a signal for
bar t is caused by the ticks of bar t+1: latency = signal received - those ticks sent.
The baseline is the p99 of a single produce-to-consume hop on a bench topic, measured at
the same rate during the same run. Last line: {"p50_ms", "p99_ms", "hop_p99_ms", "ratio_p99"}.

    python bench/latency.py [--rate BARS_PER_S] [--seconds S] [--warmup-bars N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._infra import bench_infra
from shared.events import Tick, make_envelope
from shared.infra.kafka import ensure_topics
from shared.infra.postgres import dsn_with
from shared.infra.provision import ensure_database, ensure_schemas
from shared.runtime.service import ServiceRunner
from shared.settings import KafkaSettings
from shared.topics import TopicSpec, all_topics

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")


class TickPath:
    """Prices of the pair, one step per bar (seeded: the same path every run)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        self.log_b = np.log(100.0)
        self.spread = 0.0

    def step(self) -> tuple[float, float]:
        self.log_b += self.rng.normal(0.0, 0.002)
        self.spread = 0.6 * self.spread + self.rng.normal(0.0, 1.0)
        b = float(np.exp(self.log_b))
        return 1.5 * b + 20.0 + self.spread, b


def tick_bytes(symbol: str, ts: datetime, price: float) -> bytes:
    tick = Tick(symbol=symbol, ts=ts, price=round(price, 4), size=100.0, source="bench")
    env = make_envelope(
        tick,
        event_id=uuid.uuid4(),
        occurred_at=ts,
        key=symbol,
        producer="bench",
        produced_at=datetime.now(UTC),
    )
    return env.to_bytes()


async def fresh_dsn(admin_dsn: str) -> str:
    name = f"titan_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await ensure_database(admin, name)
    finally:
        await admin.close()
    parts = urlsplit(admin_dsn)
    dsn = dsn_with(
        admin_dsn,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=name,
    )
    db = await asyncpg.connect(dsn)
    try:
        await ensure_schemas(db, ("market_data", "pairs", "signals"))
    finally:
        await db.close()
    return dsn


def runners(dsn: str, prefix: str, kafka: KafkaSettings) -> list[ServiceRunner]:
    from services.market_data import bootstrap as md
    from services.pairs import bootstrap as pairs
    from services.signals import bootstrap as signals

    common: dict[str, Any] = {
        "database_url": dsn,
        "topic_prefix": prefix,
        "http_port": 0,
        "batch_timeout_ms": 5,
    }
    md_settings = md.SETTINGS(**common, bar_intervals="1m", bar_grace_seconds=0.0)
    pairs_settings = pairs.SETTINGS(
        **common,
        pairs_interval="1m",
        pairs_universe=",".join(SYMBOLS),
        pairs_window=60,
        pairs_rescreen_every=20,
        pairs_confirm_screens=1,
        pairs_zscore_lookback=30,
    )
    sig_settings = signals.SETTINGS(
        **common, signals_entry_z=1.5, signals_exit_z=0.3, signals_unknown_pair_state="active"
    )
    return [
        ServiceRunner(md.definition(), md_settings, kafka),
        ServiceRunner(pairs.definition(), pairs_settings, kafka),
        ServiceRunner(signals.definition(), sig_settings, kafka),
    ]


async def consume(
    bootstrap: str, topic: str, out: list[tuple[float, bytes]], stop: asyncio.Event
) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.perf_counter()
            out.extend((now, m.value or b"") for msgs in batch.values() for m in msgs)
    finally:
        await consumer.stop()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def run(rate: float, seconds: float, warmup_bars: int) -> dict[str, float]:
    async with bench_infra() as (bootstrap, admin_dsn), AsyncExitStack() as stack:
        prefix = f"bench{secrets.token_hex(3)}."
        hop_topic = f"{prefix}bench.hop"
        specs = [*all_topics(), TopicSpec("bench.hop", "k", ("Hop",), partitions=1)]
        await ensure_topics(bootstrap, specs, names={s.name: prefix + s.name for s in specs})
        dsn = await fresh_dsn(admin_dsn)
        kafka = KafkaSettings(bootstrap=bootstrap)
        tasks = [asyncio.create_task(r.run()) for r in runners(dsn, prefix, kafka)]
        stop = asyncio.Event()
        signals: list[tuple[float, bytes]] = []
        spreads: list[tuple[float, bytes]] = []
        hops: list[tuple[float, bytes]] = []
        consumers = [
            asyncio.create_task(consume(bootstrap, f"{prefix}signals.v1", signals, stop)),
            asyncio.create_task(consume(bootstrap, f"{prefix}pairs.spreads.v1", spreads, stop)),
            asyncio.create_task(consume(bootstrap, hop_topic, hops, stop)),
        ]
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
        await producer.start()
        stack.push_async_callback(producer.stop)
        path = TickPath()
        sent_at: dict[datetime, float] = {}

        async def send_bar(k: int) -> None:
            a, b = path.step()
            ts = T0 + timedelta(minutes=k, seconds=1)
            sent_at[T0 + timedelta(minutes=k)] = time.perf_counter()
            for symbol, price in zip(SYMBOLS, (a, b), strict=True):
                await producer.send(f"{prefix}market.ticks.v1", tick_bytes(symbol, ts, price),
                                    key=symbol.encode())  # fmt: skip

        try:
            for k in range(warmup_bars):
                await send_bar(k)
            await producer.flush()
            deadline = time.monotonic() + 300
            while not spreads:
                if time.monotonic() > deadline:
                    raise RuntimeError("no spreads within 300 s: is the pair never active?")
                if any(t.done() for t in tasks):
                    for t in tasks:
                        if t.done():
                            t.result()
                await asyncio.sleep(0.5)
            n_signals_warm = len(signals)
            k = warmup_bars
            start = time.perf_counter()
            hop_sent: dict[bytes, float] = {}
            while time.perf_counter() - start < seconds:
                await send_bar(k)
                token = f"{k}".encode()
                hop_sent[token] = time.perf_counter()
                await producer.send(hop_topic, token, key=b"k")
                k += 1
                await asyncio.sleep(
                    max(0.0, start + (k - warmup_bars) / rate - time.perf_counter())
                )
            await asyncio.sleep(5.0)  # let the last bars' signals arrive
        finally:
            stop.set()
            await asyncio.gather(*consumers, return_exceptions=True)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        latencies = []
        for received, value in signals[n_signals_warm:]:
            bar_time = datetime.fromisoformat(json.loads(value)["payload"]["bar_time"])
            closing = sent_at.get(bar_time + timedelta(minutes=1))
            if closing is not None:
                latencies.append((received - closing) * 1000.0)
        hop = [(received - hop_sent[v]) * 1000.0 for received, v in hops if v in hop_sent]
        p50, p99, hop_p99 = pct(latencies, 50), pct(latencies, 99), pct(hop, 99)
        return {
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "hop_p99_ms": round(hop_p99, 2),
            "ratio_p99": round(p99 / hop_p99, 2) if hop_p99 > 0 else float("nan"),
            "n_signals": len(latencies),
            "n_hops": len(hop),
            "rate_bars_per_s": rate,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=5.0, help="bars per second (2 ticks each)")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--warmup-bars", type=int, default=150)
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.warmup_bars < 1:
        print("--rate and --seconds must be > 0, --warmup-bars >= 1", file=sys.stderr)
        return 2
    result = asyncio.run(run(args.rate, args.seconds, args.warmup_bars))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
