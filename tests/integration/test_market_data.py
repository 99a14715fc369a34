"""market_data on a real broker and database: bars equal pandas, DLQ, SIGKILL, idempotency."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pandas as pd
import pytest

from services.market_data.bootstrap import MarketDataSettings, definition
from services.market_data.feeds.replay import inject_malformed
from shared.events import Envelope, decode
from shared.settings import KafkaSettings
from tests.integration.market_data_support import (
    BAR_KEY,
    BAR_VALUES,
    bar_events,
    db_bars,
    feed,
    pandas_daily_bars,
    table_snapshot,
    twenty_stock_ticks,
)
from tests.integration.streams import (
    ServiceProcess,
    end_offsets,
    kill_mid_stream,
    read_topic,
    running_service,
    wait_consumed,
    wait_consumed_by,
    wait_outbox_sent,
)

pytestmark = pytest.mark.integration
TICKS = "market.ticks.v1"
BARS = "market.bars.v1"


async def run_until_consumed(
    bootstrap: str, dsn: str, prefix: str, names: dict[str, str], **extra: Any
) -> None:
    settings = MarketDataSettings(
        database_url=dsn, topic_prefix=prefix, bar_intervals="1d", **extra
    )
    ends = await end_offsets(bootstrap, [names[TICKS]])
    async with running_service(definition(), settings, KafkaSettings(bootstrap=bootstrap)):
        await wait_consumed(dsn, "market_data", ends)


def assert_frames_equal(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    actual = actual[BAR_KEY + BAR_VALUES].sort_values(BAR_KEY).reset_index(drop=True)
    expected = expected[BAR_KEY + BAR_VALUES].sort_values(BAR_KEY).reset_index(drop=True)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-12, atol=0)


async def test_replay_of_the_20_stock_file_gives_the_pandas_bars(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]], service_dsn: Any
) -> None:
    names = await make_topics()
    ticks = twenty_stock_ticks()
    assert len(ticks) == 8313 * 20
    await feed(kafka_bootstrap, names[TICKS], ticks)
    dsn = service_dsn("market_data")
    await run_until_consumed(kafka_bootstrap, dsn, names.prefix, names)

    expected = pandas_daily_bars(ticks)
    assert len(expected) == 8312 * 20
    assert_frames_equal(await db_bars(dsn), expected)

    published = bar_events(await read_topic(kafka_bootstrap, names[BARS]))
    assert published["event_id"].is_unique
    assert (published["revision"] == 0).all()
    assert_frames_equal(published, expected)


async def test_one_percent_malformed_ticks_go_to_the_dlq_and_the_rest_is_unchanged(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    clean_ticks = twenty_stock_ticks(["KO", "PEP", "XOM", "CVX", "MSFT"])
    dirty_ticks, broken = inject_malformed(clean_ticks, rate=0.01, seed=7)
    assert 300 < len(broken) < 550
    broken_ids = {b.trade_id for b in broken}
    kept = [t for t in clean_ticks if t.trade_id not in broken_ids]

    dirty, clean = await make_topics(), await make_topics()
    await feed(kafka_bootstrap, dirty[TICKS], dirty_ticks)
    await feed(kafka_bootstrap, clean[TICKS], kept)
    dirty_dsn, clean_dsn = await fresh_database("market_data"), await fresh_database("market_data")
    await run_until_consumed(kafka_bootstrap, dirty_dsn, dirty.prefix, dirty)
    await run_until_consumed(kafka_bootstrap, clean_dsn, clean.prefix, clean)

    dead = await read_topic(kafka_bootstrap, dirty[TICKS] + ".dlq")
    dead_ids = {json.loads(r.value)["payload"]["trade_id"] for r in dead}
    assert dead_ids == broken_ids
    assert len(dead) == len(broken)
    for r in dead:
        assert r.headers["titan.source.topic"].decode() == dirty[TICKS]
        assert int(r.headers["titan.source.offset"]) >= 0
        assert r.headers["titan.error"]

    assert await table_snapshot(dirty_dsn) == await table_snapshot(clean_dsn)
    dirty_bars = {
        json.loads(r.value)["event_id"]: r.value
        for r in await read_topic(kafka_bootstrap, dirty[BARS])
    }
    clean_bars = {
        json.loads(r.value)["event_id"]: r.value
        for r in await read_topic(kafka_bootstrap, clean[BARS])
    }
    assert set(dirty_bars) == set(clean_bars)
    for event_id, value in dirty_bars.items():
        assert _content(value) == _content(clean_bars[event_id])
    metrics = await _dead_letter_rows(dirty_dsn)
    assert metrics == len(broken)


async def _dead_letter_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "market_data"})
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM dead_letters")
        return value
    finally:
        await conn.close()


def _content(value: bytes) -> dict[str, Any]:
    envelope: Envelope[Any] = decode(value)
    return envelope.content_identity()


async def test_sigkill_five_times_during_a_replay_changes_nothing(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> None:
    ticks = twenty_stock_ticks(["KO", "PEP", "XOM", "CVX", "MSFT", "AAPL", "JPM", "WMT"])
    faulty, clean = await make_topics(), await make_topics()
    await feed(kafka_bootstrap, faulty[TICKS], ticks)
    await feed(kafka_bootstrap, clean[TICKS], ticks)
    faulty_dsn, clean_dsn = await fresh_database("market_data"), await fresh_database("market_data")
    ends = await end_offsets(kafka_bootstrap, [faulty[TICKS]])

    proc = ServiceProcess(
        "market-data",
        {
            "TITAN_DATABASE_URL": faulty_dsn,
            "TITAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "TITAN_TOPIC_PREFIX": faulty.prefix,
            "TITAN_BAR_INTERVALS": "1d",
            # Small batches: many commits, so kills land between and inside transactions.
            "TITAN_BATCH_MAX_RECORDS": "300",
            # A killed member holds its partitions for the session timeout: 6 s, not 45.
            "TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000",
            "TITAN_HOME": str(tmp_path / "home"),
        },
        tmp_path / "market-data.log",
    )
    progress = await kill_mid_stream(
        proc, faulty_dsn, "market_data", sum(ends.values()), 5, random.Random(11)
    )
    assert progress < sum(ends.values()), "the replay finished before the fifth kill"
    proc.start()
    try:
        await wait_consumed_by(proc, faulty_dsn, "market_data", ends, timeout_s=240)
        await wait_outbox_sent(faulty_dsn, "market_data")
    finally:
        assert proc.terminate() == 0, (tmp_path / "market-data.log").read_text()[-3000:]

    await run_until_consumed(kafka_bootstrap, clean_dsn, clean.prefix, clean)
    assert await table_snapshot(faulty_dsn) == await table_snapshot(clean_dsn)

    faulty_events = await read_topic(kafka_bootstrap, faulty[BARS])
    clean_events = await read_topic(kafka_bootstrap, clean[BARS])
    copies: dict[str, set[bytes]] = defaultdict(set)
    for r in faulty_events:
        copies[json.loads(r.value)["event_id"]].add(r.value)
    # An event may reach the topic twice, but only as an exact copy.
    assert all(len(v) == 1 for v in copies.values())
    clean_content = {json.loads(r.value)["event_id"]: _content(r.value) for r in clean_events}
    faulty_content = {k: _content(next(iter(v))) for k, v in copies.items()}
    assert faulty_content == clean_content


async def test_every_tick_delivered_twice_is_counted_once(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    ticks = twenty_stock_ticks(["KO", "PEP"])
    twice, once = await make_topics(), await make_topics()
    await feed(kafka_bootstrap, twice[TICKS], ticks)
    await feed(kafka_bootstrap, twice[TICKS], ticks)
    await feed(kafka_bootstrap, once[TICKS], ticks)
    twice_dsn, once_dsn = await fresh_database("market_data"), await fresh_database("market_data")
    await run_until_consumed(kafka_bootstrap, twice_dsn, twice.prefix, twice)
    await run_until_consumed(kafka_bootstrap, once_dsn, once.prefix, once)
    assert await table_snapshot(twice_dsn) == await table_snapshot(once_dsn)
    twice_ids = sorted(
        json.loads(r.value)["event_id"] for r in await read_topic(kafka_bootstrap, twice[BARS])
    )
    once_ids = sorted(
        json.loads(r.value)["event_id"] for r in await read_topic(kafka_bootstrap, once[BARS])
    )
    assert twice_ids == once_ids
