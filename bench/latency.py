"""Tick-to-signal latency through the live services, against one Kafka hop in the same run.

market_data -> pairs -> signals run as child processes, one event loop each as deployed
(`titan run <service>`, real Kafka and PostgreSQL from `titan infra up` or started here),
each in its own consumer group unique to the run (a shared group name would let another process on the broker join the group and
take partitions, or force rebalances mid-run). Synthetic ticks of a cointegrated pair (B a
random walk, A = 1.5 B + 20 + AR(1) spread) are produced at a steady rate, one 1-minute bar
of event time per step: both legs' ticks at second 1 of the minute, then one hop token.

A 1m bar closes when its symbol's next tick arrives, so the signal for bar t is caused by
the ticks of step t+1: latency = signal readable on signals.v1 (this process's consumer
returned it) - the moment the first tick of step t+1 was handed to the producer. The
baseline is the p99 of one produce-to-consume hop (same producer, same consumer settings)
of the tokens sent in the same measurement window.

Phases: (1) a burst of warm-up bars fills the screen window, the pair goes active and the
backlog drains; (2) every service must be ready (consumer assigned), without consumer lag
and without a re-seek for 2 s; (3) the steady rate runs --settle-seconds, not measured;
(4) --seconds measured; (5) the steady rate goes on until every measured bar's spread is in
and every signal stored for them was read (one never read counts as infinitely late).
Stages come from the envelopes' produced_at and the records' Kafka timestamps (stderr),
batch times from each service's /metrics, re-seeks from their logs. Last line: {"p50_ms", "p99_ms", "hop_p99_ms",
"ratio_p99", ...}.

    python bench/latency.py [--rate BARS_PER_S] [--seconds S] [--settle-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncpg
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._infra import bench_infra
from bench._service_procs import ServiceProcs
from shared.events import Tick, make_envelope
from shared.infra.kafka import ensure_topics
from shared.infra.postgres import dsn_with
from shared.infra.provision import ensure_database, ensure_schemas
from shared.runtime.send_watermarks import send_watermark
from shared.runtime.watermarks import END_OF_INPUT_US, is_watermark, to_us
from shared.topic_partitions import resolved_topics
from shared.topics import TopicSpec

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
SYMBOLS = ("AAA", "BBB")
BAR = timedelta(minutes=1)
SERVICES = ("market_data", "pairs", "signals")
STAGES = (
    "tick->md handler",
    "md handler->bar on kafka",
    "bar on kafka->pairs handler",
    "pairs handler->spread on kafka",
    "spread on kafka->signals handler",
    "signals handler->signal on kafka",
    "signal on kafka->readable",
)


class TickPath:
    """Prices of the pair, one step per bar (seeded: the same path every run).

    AR(1) with phi 0.6: a half-life of ~1.4 bars passes the screen's half-life band, and
    with entry |z| >= 1 / exit |z| <= 0.5 about every other bar yields a signal."""

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
        await ensure_schemas(db, SERVICES)
    finally:
        await db.close()
    return dsn


def service_settings(dsn: str, prefix: str, groups: dict[str, str]) -> dict[str, dict[str, Any]]:
    common: dict[str, Any] = {"database_url": dsn, "topic_prefix": prefix, "batch_timeout_ms": 5}
    return {
        "market_data": {
            **common,
            "consumer_group": groups["market_data"],
            "bar_intervals": "1m",
            "bar_grace_seconds": 0.0,
        },
        "pairs": {
            **common,
            "consumer_group": groups["pairs"],
            "pairs_interval": "1m",
            "pairs_universe": ",".join(SYMBOLS),
            "pairs_window": 60,
            "pairs_rescreen_every": 20,
            "pairs_confirm_screens": 1,
            "pairs_zscore_lookback": 30,
        },
        "signals": {
            **common,
            "consumer_group": groups["signals"],
            "signals_entry_z": 1.0,
            "signals_exit_z": 0.5,
            "signals_unknown_pair_state": "active",
        },
    }


@dataclass
class Seen:
    """Records read by the bench: (wall time returned, Kafka timestamp s, decoded value)."""

    by_topic: dict[str, list[tuple[float, float, dict[str, Any]]]] = field(default_factory=dict)


async def consume(bootstrap: str, topics: list[str], seen: Seen, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=20)
            now = time.time()
            for tp, msgs in batch.items():
                out = seen.by_topic.setdefault(tp.topic, [])
                out.extend(
                    (now, m.timestamp / 1000.0, json.loads(m.value or b"{}"))
                    for m in msgs
                    if not is_watermark(m.headers)  # progress records, not events
                )
    finally:
        await consumer.stop()


async def ready(ports: dict[str, int]) -> bool:
    """Every service answers /readyz with 200 (consumer assigned, database reachable)."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        for port in ports.values():
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                    return False
            except httpx.HTTPError:
                return False  # not listening yet
    return True


async def settled(ports: dict[str, int], reseeks: list[tuple[float, str]]) -> bool:
    """Every service ready (consumer assigned), no consumer lag, no re-seek for 2 s."""
    if reseeks and time.time() - reseeks[-1][0] < 2.0:
        return False
    lag = re.compile(r"^titan_consumer_lag\{[^}]*\} (\S+)$", re.M)
    async with httpx.AsyncClient(timeout=5.0) as client:
        for port in ports.values():
            if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                return False
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            if any(float(m[1]) > 0 for m in lag.finditer(text)):
                return False
    return True


async def scrape(ports: dict[str, int]) -> dict[str, dict[str, float]]:
    """Batch and publish time sums/counts of each service (Prometheus text format)."""
    pattern = re.compile(r"^titan_(batch|publish)_seconds_(sum|count) (\S+)$", re.M)
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=5.0) as client:
        for name, port in ports.items():
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
            out[name] = {f"{m[1]}_{m[2]}": float(m[3]) for m in pattern.finditer(text)}
            fenced = re.search(r"^titan_offset_fenced_total (\S+)$", text, re.M)
            out[name]["fenced"] = float(fenced[1]) if fenced else 0.0
    return out


def batch_means(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> Any:
    res: dict[str, dict[str, float]] = {}
    for name, a in after.items():
        b = before[name]
        row = {}
        for kind in ("batch", "publish"):
            n = a.get(f"{kind}_count", 0.0) - b.get(f"{kind}_count", 0.0)
            s = a.get(f"{kind}_sum", 0.0) - b.get(f"{kind}_sum", 0.0)
            row[f"{kind}_mean_ms"] = round(1000.0 * s / n, 2) if n else float("nan")
            row[f"{kind}es" if kind == "batch" else "publishes"] = n
        row["fenced"] = a["fenced"] - b["fenced"]
        res[name] = row
    return res


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def when(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def window_times(lo: int, hi: int) -> tuple[datetime, datetime]:
    """Bar times whose closing step (bar + 1) lies in [lo, hi]."""
    return T0 + (lo - 1) * BAR, T0 + (hi - 1) * BAR


async def signals_stored(dsn: str, lo: int, hi: int) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(
            "SELECT count(*) FROM signals.signals WHERE bar_time BETWEEN $1 AND $2",
            *window_times(lo, hi),
        )
        return n
    finally:
        await conn.close()


def received_in(seen: Seen, real_topic: str, lo: int, hi: int) -> int:
    start, end = window_times(lo, hi)
    rows = seen.by_topic.get(real_topic, [])
    return sum(start <= datetime.fromisoformat(v["payload"]["bar_time"]) <= end for *_, v in rows)


async def wait_for(
    cond: Callable[[], bool], timeout_s: float, what: str, procs: ServiceProcs
) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        procs.check_alive()  # a service died: raise with its log
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} within {timeout_s} s")
        await asyncio.sleep(0.05)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rate, warmup = args.rate, args.warmup_bars
    async with bench_infra() as (bootstrap, admin_dsn):
        run_id = secrets.token_hex(3)
        prefix = f"bench{run_id}."
        groups = {s: f"bench-{run_id}-{s}" for s in SERVICES}
        specs = [*resolved_topics(), TopicSpec("bench.hop", "k", ("Hop",), partitions=1)]
        await ensure_topics(bootstrap, specs, names={s.name: prefix + s.name for s in specs})
        topic = {s.name: prefix + s.name for s in specs}
        dsn = await fresh_dsn(admin_dsn)
        procs = ServiceProcs(service_settings(dsn, prefix, groups), bootstrap)
        procs.start()
        stop = asyncio.Event()
        sig, stages, hops = Seen(), Seen(), Seen()
        readers = [
            asyncio.create_task(consume(bootstrap, [topic["signals.v1"]], sig, stop)),
            asyncio.create_task(consume(bootstrap, [topic["bench.hop"]], hops, stop)),
            asyncio.create_task(
                consume(bootstrap, [topic["market.bars.v1"], topic["pairs.spreads.v1"]], stages, stop)
            ),
        ]  # fmt: skip
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
        await producer.start()
        path = TickPath()
        sent_at: dict[int, float] = {}  # step -> wall time its first tick was handed over
        hop_sent: dict[str, float] = {}

        # regime does not run here: its output has ended before it began (rule 7), so
        # signals does not wait for shifts that will never come.
        await send_watermark(producer, topic["regime.shifts.v1"], END_OF_INPUT_US, "bench")

        async def send_step(k: int) -> None:
            a, b = path.step()
            ts = T0 + k * BAR + timedelta(seconds=1)
            sent_at[k] = time.time()
            for symbol, price in zip(SYMBOLS, (a, b), strict=True):
                await producer.send(topic["market.ticks.v1"], tick_bytes(symbol, ts, price),
                                    key=symbol.encode())  # fmt: skip
            # the feed's progress on every partition: no tick at or before ts follows
            await send_watermark(producer, topic["market.ticks.v1"], to_us(ts), "bench")
            hop_sent[str(k)] = time.time()
            await producer.send(topic["bench.hop"], str(k).encode(), key=b"k")

        def spreads_upto(step: int) -> bool:
            want = T0 + step * BAR
            rows = stages.by_topic.get(topic["pairs.spreads.v1"], [])
            return any(datetime.fromisoformat(v["payload"]["bar_time"]) >= want for *_, v in rows)

        async def drained(lo: int, hi: int) -> bool:
            """Every measured bar's spread is in, and every stored signal of them was read."""
            if not spreads_upto(hi - 1) or time.time() - sent_at[hi] < 1.0:
                return False
            stored = await signals_stored(dsn, lo, hi)
            return received_in(sig, topic["signals.v1"], lo, hi) >= stored

        try:
            ports = procs.ports
            while not await ready(ports):
                procs.check_alive()
                await asyncio.sleep(0.2)
            # (1) warm-up burst: the screen window fills, the pair goes active, backlog drains
            for k in range(warmup):
                await send_step(k)
            await producer.flush()
            await wait_for(lambda: spreads_upto(warmup - 2), 300, "warm-up spreads", procs)
            # (2) every group settled before anything is measured
            deadline = time.monotonic() + 120
            while not await settled(ports, procs.reseeks()):
                procs.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"services not settled in 120 s: {procs.reseeks()}")
                await asyncio.sleep(0.2)
            # (3) steady rate, settle; (4) measure; (5) steady rate until the tail is in
            k, start = warmup, time.time()
            settle_end = start + args.settle_seconds
            measure_end = settle_end + args.seconds
            first_measured: int | None = None
            measured_from = 0.0
            last_measured: int | None = None
            before: dict[str, dict[str, float]] = {}
            while True:
                now = time.time()
                if now >= settle_end and first_measured is None:
                    first_measured, before = k, await scrape(ports)
                    measured_from = time.time()
                if now >= measure_end and last_measured is None:
                    last_measured = k - 1
                    after = await scrape(ports)
                    drain_deadline = time.monotonic() + 60
                if (
                    first_measured is not None
                    and last_measured is not None
                    and (
                        await drained(first_measured, last_measured)
                        or time.monotonic() > drain_deadline
                    )
                ):
                    break
                procs.check_alive()
                await send_step(k)
                k += 1
                await asyncio.sleep(max(0.0, start + (k - warmup) / rate - time.time()))
            reseeks = [msg for _, msg in procs.reseeks(since=measured_from)]
            assert first_measured is not None and last_measured is not None
            stored = await signals_stored(dsn, first_measured, last_measured)
        finally:
            stop.set()
            await asyncio.gather(*readers, return_exceptions=True)
            await producer.stop()
            procs.stop()
    return summarise(
        args, topic, sig, stages, hops, sent_at, hop_sent, (first_measured, last_measured),
        batch_means(before, after), reseeks, stored,
    )  # fmt: skip


def summarise(
    args: argparse.Namespace,
    topic: dict[str, str],
    sig: Seen,
    stages: Seen,
    hops: Seen,
    sent_at: dict[int, float],
    hop_sent: dict[str, float],
    window: tuple[int, int],
    batches: Any,
    reseeks: list[str],
    stored: int,
) -> dict[str, Any]:
    lo, hi = window  # steps whose ticks were sent in the measurement window

    def step_of(iso: str) -> int:
        return int((datetime.fromisoformat(iso) - T0) / BAR)

    bars: dict[int, tuple[float, float]] = {}  # bar step -> latest (produced_at, kafka ts)
    for _, ts, v in stages.by_topic.get(topic["market.bars.v1"], []):
        k, prod = step_of(v["payload"]["start"]), when(v["produced_at"])
        bars[k] = max(bars.get(k, (0.0, 0.0)), (prod, ts))
    spreads = {
        step_of(v["payload"]["bar_time"]): (when(v["produced_at"]), ts)
        for _, ts, v in stages.by_topic.get(topic["pairs.spreads.v1"], [])
    }
    latencies: list[float] = []
    parts: list[list[float]] = [[] for _ in STAGES]
    rows: list[dict[str, Any]] = []  # per measured signal, for --dump
    for received, ts, v in sig.by_topic.get(topic["signals.v1"], []):
        k = step_of(v["payload"]["bar_time"])
        if not lo <= k + 1 <= hi:  # the step that closed bar k was not sent in the window
            continue
        sent = sent_at[k + 1]
        latencies.append((received - sent) * 1000.0)
        if k in bars and k in spreads:
            marks = [
                sent,
                bars[k][0],
                bars[k][1],
                *spreads[k],
                when(v["produced_at"]),
                ts,
                received,
            ]
            for i in range(len(STAGES)):
                parts[i].append((marks[i + 1] - marks[i]) * 1000.0)
            rows.append({"step": k + 1, "sent": sent, "marks": marks})
    if args.dump:
        Path(args.dump).write_text(json.dumps(rows))
    # a stored signal never read counts as infinitely late (the tail is never dropped)
    missing = max(0, stored - len(latencies))
    latencies.extend([float("inf")] * missing)
    hop = [
        (received - hop_sent[v]) * 1000.0
        for received, _, v in ((r, t, str(v)) for r, t, v in hops.by_topic.get(topic["bench.hop"], []))
        if v in hop_sent and lo <= int(v) <= hi
    ]  # fmt: skip
    spread_lat = [
        (stages_recv - sent_at[k + 1]) * 1000.0
        for stages_recv, _, v in stages.by_topic.get(topic["pairs.spreads.v1"], [])
        if lo <= (k := step_of(v["payload"]["bar_time"])) + 1 <= hi
    ]
    print(f"{'stage':34} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}", file=sys.stderr)
    for name, xs in zip(STAGES, parts, strict=True):
        print(f"{name:34} {pct(xs, 50):8.1f} {pct(xs, 99):8.1f} {max(xs, default=0):8.1f}",
              file=sys.stderr)  # fmt: skip
    print(f"batches in the window: {json.dumps(batches)}", file=sys.stderr)
    print(f"re-seeks in the window: {reseeks or 'none'}", file=sys.stderr)
    p50, p99, hop_p99 = pct(latencies, 50), pct(latencies, 99), pct(hop, 99)
    return {
        "p50_ms": round(p50, 2),
        "p99_ms": round(p99, 2),
        "hop_p99_ms": round(hop_p99, 2),
        "ratio_p99": round(p99 / hop_p99, 2) if hop_p99 > 0 else float("nan"),
        "n_signals": len(latencies),
        "n_missing": missing,
        "n_hops": len(hop),
        "hop_p50_ms": round(pct(hop, 50), 2),
        "max_ms": round(max(latencies, default=float("nan")), 2),
        "spread_p99_ms": round(pct(spread_lat, 99), 2),
        "n_spreads": len(spread_lat),
        "bars_expected": hi - lo + 1,
        "stage_p99_ms": {n: round(pct(xs, 99), 2) for n, xs in zip(STAGES, parts, strict=True)},
        "batch_mean_ms": {s: b["batch_mean_ms"] for s, b in batches.items()},
        "reseeks": len(reseeks),
        "rate_bars_per_s": args.rate,
        "seconds": args.seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="bars per second (2 ticks each)")
    parser.add_argument("--seconds", type=float, default=140.0, help="measured period")
    parser.add_argument("--settle-seconds", type=float, default=10.0, help="steady, unmeasured")
    parser.add_argument("--warmup-bars", type=int, default=100)
    parser.add_argument("--dump", help="write per-signal stage timestamps to this JSON file")
    args = parser.parse_args()
    if args.rate <= 0 or args.seconds <= 0 or args.settle_seconds < 0 or args.warmup_bars < 70:
        print("--rate, --seconds must be > 0, --settle-seconds >= 0, --warmup-bars >= 70 "
              "(the 60-bar screen window must fill before measuring)", file=sys.stderr)  # fmt: skip
        return 2
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    if result["n_signals"] < 500:
        print(f"warning: only {result['n_signals']} signals measured", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
