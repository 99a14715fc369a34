"""When the demo pipeline is done: the end of input has reached every service.

Lag alone is not enough: a service can have consumed everything and still be waiting (signals
for the parameter sets of a walk-forward still running in backtest). The pipeline is done when
every service consumed all its input records, every aligned or gating input of every
service stands at the end-of-input watermark (which only happens once everything before it
was processed: contract rule 7), and every outbox row is published.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncpg

from shared.runtime.watermarks import END_OF_INPUT_US
from shared.topics import watermark_sources
from titan.pipeline import Pipeline

# The inputs whose watermark each service waits for (their routes are aligned or gating).
GATING_INPUTS: dict[str, tuple[str, ...]] = {
    "pairs": ("market.bars.v1",),
    "regime": ("market.bars.v1", "pairs.spreads.v1"),
    "signals": ("pairs.spreads.v1", "pairs.lifecycle.v1", "regime.shifts.v1"),
    "backtest": ("pairs.lifecycle.v1",),
    "portfolio": ("market.bars.v1", "pairs.lifecycle.v1", "signals.v1"),
}


# Who produces each gating input (and its watermark).
PRODUCERS = {
    "market.bars.v1": "market_data",
    "pairs.spreads.v1": "pairs",
    "pairs.lifecycle.v1": "pairs",
    "regime.shifts.v1": "regime",
    "params.v1": "backtest",
    "signals.v1": "signals",
}


async def end_inputs_nobody_produces(pipeline: Pipeline) -> list[str]:
    """A service run without the producer of one of its inputs would wait for it forever:
    that input has ended before it began, so its end of input is sent now (rule 7)."""
    from aiokafka import AIOKafkaProducer

    from shared.runtime.send_watermarks import send_watermark

    orphaned = sorted(
        {t for inputs in gating_inputs(pipeline.services).values() for t in inputs}
        - {t for t, producer in PRODUCERS.items() if producer in pipeline.services}
    )
    if not orphaned:
        return []
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    await producer.start()
    try:
        for topic in orphaned:
            await send_watermark(producer, pipeline.topic(topic), END_OF_INPUT_US, "titan-demo")
        await producer.flush()
    finally:
        await producer.stop()
    return orphaned


def gating_inputs(services: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    out = {s: GATING_INPUTS[s] for s in services if s in GATING_INPUTS}
    if "backtest" in services and "signals" in out:
        out["signals"] = (*out["signals"], "params.v1")  # TITAN_SIGNALS_AWAIT_PARAMS
    return out


async def end_of_input_reached(pipeline: Pipeline) -> bool:
    wanted = gating_inputs(pipeline.services)
    topics = {t for inputs in wanted.values() for t in inputs}
    partitions: dict[str, int] = {}
    for topic, _p in await pipeline.end_offsets(topics):
        partitions[topic] = partitions.get(topic, 0) + 1
    conn = await asyncpg.connect(pipeline.admin_dsn(pipeline.database))
    try:
        for service, inputs in wanted.items():
            try:
                # One row per partition and watermark source ("topic#source", watermarks.py).
                rows = await conn.fetch(
                    f"SELECT split_part(topic, '#', 1) AS topic, count(*) AS n"
                    f" FROM {service}.input_watermarks WHERE watermark_us >= $1"
                    " GROUP BY split_part(topic, '#', 1)",
                    END_OF_INPUT_US,
                )
            except asyncpg.UndefinedTableError:
                return False
            ended = {r["topic"]: r["n"] for r in rows}
            for topic in inputs:
                real = pipeline.topic(topic)
                expected = partitions.get(real, 1) * len(watermark_sources(topic))
                if ended.get(real, 0) < expected:
                    return False
        for service in pipeline.services:  # and everything they made is published
            unsent = await conn.fetchval(
                f"SELECT count(*) FROM {service}.outbox WHERE sent_at IS NULL"
            )
            if unsent:
                return False
    finally:
        await conn.close()
    return True


async def wait_until_done(
    pipeline: Pipeline, timeout_s: float, on_tick: Callable[[dict[str, int]], None]
) -> None:
    """Until no service has records left to consume and the end of input reached them all."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pipeline.check_alive()
        lag = await pipeline.lag()
        on_tick(lag)
        if all(v == 0 for v in lag.values()) and await end_of_input_reached(pipeline):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"pipeline not done in {timeout_s:.0f} s: lag {await pipeline.lag()}")
