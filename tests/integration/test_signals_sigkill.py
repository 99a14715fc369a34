"""SIGKILL rule: the signals service killed with kill -9 several times mid-stream and restarted
ends with the same signals (ids and contents) on its topic and in its tables as a clean run."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.signals.bootstrap import SignalsSettings, make_engine
from tests.integration.streams import (
    ServiceProcess,
    end_offsets,
    partitions,
    send_watermark,
    wait_consumed,
    wait_consumed_by,
    wait_outbox_sent,
)
from tests.integration.test_signals_service import (
    CONTROL_TOPICS,
    INPUT_TOPICS,
    expected_signals,
    produce,
    published,
    scenario,
    stored,
)
from tests.unit.signals_service.builders import feed

pytestmark = pytest.mark.integration


async def spread_progress(dsn: str, prefix: str) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "signals"})
    try:
        value = await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE topic = $1",
            f"{prefix}pairs.spreads.v1",
        )
    finally:
        await conn.close()
    return int(value)


async def positions_and_states(dsn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "signals"})
    try:
        pos = await conn.fetch("SELECT pair_id, opening_signal_id, params FROM positions")
        states = await conn.fetch("SELECT pair_id, machine FROM pair_state")
    finally:
        await conn.close()
    return (
        {r["pair_id"]: (str(r["opening_signal_id"]), json.loads(r["params"])) for r in pos},
        {r["pair_id"]: json.loads(r["machine"]) for r in states},
    )


async def test_kill_9_several_times_gives_the_clean_result(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> None:
    topics = await make_topics()
    dsn = await fresh_database("signals")
    env = {
        "TITAN_DATABASE_URL": dsn,
        "TITAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TITAN_TOPIC_PREFIX": topics.prefix,
        "TITAN_HTTP_PORT": "0",
        "TITAN_HOME": str(tmp_path / "home"),
        # A killed member holds its partitions for the session timeout: 6 s, not 45.
        "TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "TITAN_BATCH_MAX_RECORDS": "15",
        "TITAN_BATCH_TIMEOUT_MS": "20",
        "TITAN_SIGNALS_NO_TRADE_REGIMES": "2",
    }
    service = ServiceProcess("signals", env, tmp_path / "signals.log")
    controls, spreads = scenario()
    service.start()
    kills = 0
    try:
        await produce(kafka_bootstrap, topics.prefix, controls)
        ends = await end_offsets(kafka_bootstrap, [topics.prefix + t for t in CONTROL_TOPICS])
        await wait_consumed(dsn, "signals", ends, 120)
        await produce(kafka_bootstrap, topics.prefix, spreads)
        rng = random.Random(20240905)
        total = len(spreads)
        for _ in range(3):
            before = await spread_progress(dsn, topics.prefix)
            deadline = time.monotonic() + 60
            while await spread_progress(dsn, topics.prefix) == before < total:
                assert time.monotonic() < deadline, (tmp_path / "signals.log").read_text()[-3000:]
                await asyncio.sleep(0.05)
            await asyncio.sleep(rng.uniform(0.0, 0.3))
            service.kill()
            kills += 1
            service.start()
        # Until now every spread waited in pending_events (stored with the offsets, across
        # the kills); the end of input releases them in event-time order.
        aligned = ("regime.shifts.v1", "pairs.lifecycle.v1", "pairs.spreads.v1")
        await send_watermark(kafka_bootstrap, [topics.prefix + t for t in aligned])
        ends = await end_offsets(kafka_bootstrap, [topics.prefix + t for t in INPUT_TOPICS])
        await wait_consumed_by(service, dsn, "signals", ends, 180)
        await wait_outbox_sent(dsn, "signals")
        assert service.terminate() == 0
    finally:
        if service.alive():
            service.kill()
    assert kills == 3
    progress = await spread_progress(dsn, topics.prefix)
    # every spread and the end-of-input watermark of each spreads partition
    spread_partitions = await partitions(kafka_bootstrap, [topics.prefix + "pairs.spreads.v1"])
    assert progress == len(spreads) + len(spread_partitions)
    expected = expected_signals()
    assert await published(kafka_bootstrap, topics.prefix) == expected
    assert await stored(dsn) == expected
    # Tables: open positions and every pair's machine state as the uninterrupted engine has them.
    engine = make_engine(
        SignalsSettings(database_url=dsn, signals_no_trade_regimes="2"),
        None,
    )
    for _, e in controls + spreads:
        feed(engine, e.payload)
    positions, states = await positions_and_states(dsn)
    assert states == {p: engine.record(p).machine for p in engine.pair_ids()}
    assert positions == {
        p: (r.position.opening_signal_id, r.position.params)
        for p in engine.pair_ids()
        if (r := engine.record(p)).position is not None
    }
