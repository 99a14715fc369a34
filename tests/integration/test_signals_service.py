"""The signals service on real Kafka + PostgreSQL: inputs under a unique topic prefix, signals
checked on the topic, in the table, over HTTP, through the subscriber clients and the CLI."""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.signals.bootstrap import SignalsSettings, definition, make_engine
from services.signals.client import BlockingSignalClient, SignalSubscriber
from services.signals.domain.convert import signal_payload
from shared.events import Envelope, Payload, derive_id, make_envelope
from shared.settings import KafkaSettings
from tests.integration.streams import (
    REPO,
    end_offsets,
    read_topic,
    running_service,
    send_watermark,
    wait_consumed,
)
from tests.unit.signals_service.builders import T0, bar, feed, lifecycle, params, shift, spread

pytestmark = pytest.mark.integration

PAIRS = ("MSFT~IBM", "KO~PEP", "XOM~CVX")
N_BARS = 240
CONTROL_TOPICS = ("params.v1", "regime.shifts.v1", "pairs.lifecycle.v1")
INPUT_TOPICS = (*CONTROL_TOPICS, "pairs.spreads.v1")
SETTINGS_ENV = {"TITAN_SIGNALS_NO_TRADE_REGIMES": "2"}


def z_path(k: int, i: int) -> float | None:
    if i % 53 == 7:
        return None
    return round(2.8 * math.sin(i / (4.0 + k)) + 0.6 * math.sin(i * 1.7 + k), 4)


def scenario() -> tuple[list[tuple[str, Envelope[Any]]], list[tuple[str, Envelope[Any]]]]:
    """(control events, spreads) as (contract topic, envelope), with deterministic ids."""
    controls: list[tuple[str, Payload, str]] = [
        ("params.v1", params("*", 0, "wf-calm", entry_z=1.8, exit_z=0.3), "*|0"),
        ("params.v1", params(PAIRS[0], 1, "wf-msft-1", entry_z=2.2, stop_z=5.0), f"{PAIRS[0]}|1"),
        ("regime.shifts.v1", shift("market", 0, 0, "calm"), "market"),
        ("regime.shifts.v1", shift("market", 90, 1, "volatile"), "market"),
        ("regime.shifts.v1", shift("market", 150, 2, "crisis"), "market"),
        ("regime.shifts.v1", shift("market", 190, 0, "calm"), "market"),
        ("regime.shifts.v1", shift(PAIRS[2], 120, 1, "volatile"), PAIRS[2]),
    ]
    for k, pair in enumerate(PAIRS):
        controls.append(("pairs.lifecycle.v1", lifecycle(pair, "active", 5 * k), pair))
    controls.append(("pairs.lifecycle.v1", lifecycle(PAIRS[1], "degraded", 120), PAIRS[1]))
    controls.append(("pairs.lifecycle.v1", lifecycle(PAIRS[1], "active", 170), PAIRS[1]))
    spreads = [
        ("pairs.spreads.v1", spread(pair, i, z_path(k, i)), pair)
        for i in range(N_BARS)
        for k, pair in enumerate(PAIRS)
    ]
    return [_env(t, p, key) for t, p, key in controls], [_env(t, p, key) for t, p, key in spreads]


def _env(topic: str, payload: Payload, key: str) -> tuple[str, Envelope[Any]]:
    env = make_envelope(
        payload,
        event_id=derive_id("test-input", topic, payload.model_dump_json()),
        occurred_at=getattr(payload, "bar_time", None) or getattr(payload, "as_of", None) or T0,
        key=key,
        producer="test",
        produced_at=T0,
    )
    return topic, env


def expected_signals(without_params: str | None = None) -> dict[str, dict[str, Any]]:
    """What the pure engine decides on the scenario: {signal id: payload JSON}
    (`without_params`: the scenario less the parameter set of that version)."""
    settings = SignalsSettings(database_url="postgresql://x@h/x", signals_no_trade_regimes="2")
    engine = make_engine(settings, None)
    controls, spreads = scenario()
    for _, env in controls + spreads:
        if without_params is None or getattr(env.payload, "version", None) != without_params:
            feed(engine, env.payload)
    return {
        s.signal_id: json.loads(signal_payload(s).model_dump_json())
        for s in engine.take_changes().signals
    }


async def produce(bootstrap: str, prefix: str, items: list[tuple[str, Envelope[Any]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for topic, env in items:
            await producer.send(f"{prefix}{topic}", env.to_bytes(), key=env.key.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def feed_pipeline(
    bootstrap: str, prefix: str, dsn: str, *, twice: bool = False, timeout_s: float = 120.0
) -> None:
    """Control events first and consumed, then the spreads; waits until all are consumed."""
    controls, spreads = scenario()
    if twice:
        controls, spreads = (
            [c for c in controls for _ in (0, 1)],
            [s for s in spreads for _ in (0, 1)],
        )
    await produce(bootstrap, prefix, controls)
    ends = await end_offsets(bootstrap, [prefix + t for t in CONTROL_TOPICS])
    await wait_consumed(dsn, "signals", ends, timeout_s)
    await produce(bootstrap, prefix, spreads)
    # The end of input on the joined topics releases everything in event-time order.
    aligned = ("regime.shifts.v1", "pairs.lifecycle.v1", "pairs.spreads.v1")
    await send_watermark(bootstrap, [prefix + t for t in aligned])
    ends = await end_offsets(bootstrap, [prefix + t for t in INPUT_TOPICS])
    await wait_consumed(dsn, "signals", ends, timeout_s)


async def published(bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Signals on the topic by event id; copies of an id must be exact copies."""
    out: dict[str, dict[str, Any]] = {}
    for record in await read_topic(bootstrap, f"{prefix}signals.v1"):
        env = json.loads(record.value)
        env.pop("produced_at")
        assert env["event_id"] == env["payload"]["signal_id"]
        assert record.key == env["payload"]["pair_id"].encode()
        previous = out.setdefault(env["event_id"], env)
        assert previous == env, "a duplicate signal must be an exact copy"
    return {k: v["payload"] for k, v in out.items()}


async def stored(dsn: str) -> dict[str, dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "signals"})
    try:
        rows = await conn.fetch("SELECT signal_id, payload FROM signals")
    finally:
        await conn.close()
    return {str(r["signal_id"]): json.loads(r["payload"]) for r in rows}


def settings_for(dsn: str, prefix: str) -> SignalsSettings:
    return SignalsSettings(
        database_url=dsn,
        topic_prefix=prefix,
        http_port=0,
        batch_max_records=50,
        batch_timeout_ms=50,
        signals_no_trade_regimes="2",
    )


async def test_pipeline_signals_on_topic_table_http_clients_and_cli(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    topics = await make_topics()
    dsn = await fresh_database("signals")
    expected = expected_signals()
    actions = {p["action"] for p in expected.values()}
    assert {"open_long_spread", "open_short_spread", "close", "forced_close"} <= actions
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    async with running_service(definition(), settings_for(dsn, topics.prefix), kafka) as runner:
        await feed_pipeline(kafka_bootstrap, topics.prefix, dsn)
        base = f"http://127.0.0.1:{runner.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            history = (await http.get("/signals", params={"limit": 10000})).json()
            active = (await http.get("/signals/active")).json()
            one = (await http.get("/signals", params={"pair_id": PAIRS[0]})).json()
        assert {s["signal_id"] for s in history["signals"]} == set(expected)
        assert {s["pair_id"] for s in one["signals"]} == {PAIRS[0]}
        for position in active["positions"]:
            assert position["opening_signal"]["action"].startswith("open_")
        # A subscriber started at a time sees only the signals published after it... and the
        # blocking client, from a thread, reads everything from the beginning.
        with BlockingSignalClient(
            kafka=kafka_bootstrap, topic_prefix=topics.prefix, start="beginning", service_url=base
        ) as client:
            polled: list[Any] = []
            for _ in range(20):
                polled += await asyncio.to_thread(client.poll, 1000, 1.0)
                if len(polled) >= len(expected):
                    break
            past = await asyncio.to_thread(client.fetch_history, PAIRS[1], bar(0), bar(N_BARS), 100)
    assert await published(kafka_bootstrap, topics.prefix) == expected
    assert await stored(dsn) == expected
    assert {s.signal_id for s in polled} == set(expected)
    assert {s.signal_id for s in past} == {
        k for k, v in expected.items() if v["pair_id"] == PAIRS[1]
    }
    # The async subscriber as an iterator, with a consumer group.
    got: set[str] = set()
    async with SignalSubscriber(
        kafka_bootstrap, topic_prefix=topics.prefix, start="beginning", group_id="it-sub"
    ) as sub:
        async for env in sub:
            got.add(str(env.event_id))
            if len(got) == len(expected):
                break
    assert got == set(expected)
    # The CLI, as any subscriber would use it.
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "titan.cli", "signals", "tail", "--json", "--from-beginning",
         "--limit", "5", "--idle-exit", "20"],
        env={"TITAN_KAFKA_BOOTSTRAP": kafka_bootstrap, "TITAN_TOPIC_PREFIX": topics.prefix,
             "PATH": "/usr/bin:/bin"},
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    lines = [json.loads(line) for line in cli.stdout.splitlines()]
    assert len(lines) == 5 and all(line["event_id"] in expected for line in lines)


async def test_every_input_delivered_twice_gives_the_same_signals(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    topics = await make_topics()
    dsn = await fresh_database("signals")
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    async with running_service(definition(), settings_for(dsn, topics.prefix), kafka):
        await feed_pipeline(kafka_bootstrap, topics.prefix, dsn, twice=True)
    expected = expected_signals()
    assert await published(kafka_bootstrap, topics.prefix) == expected
    assert await stored(dsn) == expected
