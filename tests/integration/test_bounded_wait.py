"""A live deployment may bound the wait for a lagging input (TITAN_MAX_WATERMARK_WAIT_S):
the service then decides without it, and counts, logs and stores that it did."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from services.signals.bootstrap import definition
from shared.settings import KafkaSettings
from tests.integration.streams import end_offsets, running_service, send_watermark, wait_consumed
from tests.integration.test_signals_service import (
    INPUT_TOPICS,
    expected_signals,
    produce,
    published,
    scenario,
    settings_for,
)

pytestmark = pytest.mark.integration


async def forced_releases(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "signals"})
    try:
        return [dict(r) for r in await conn.fetch("SELECT * FROM forced_releases")]
    finally:
        await conn.close()


async def test_expired_wait_releases_without_the_silent_input_and_says_so(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    topics = await make_topics()
    dsn = await fresh_database("signals")
    settings = settings_for(dsn, topics.prefix).model_copy(update={"max_watermark_wait_s": 1.0})
    controls, spreads = scenario()
    async with running_service(definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)):
        await produce(kafka_bootstrap, topics.prefix, controls + spreads)
        # Lifecycle and spreads end; regime.shifts.v1's producer never says how far it got.
        await send_watermark(
            kafka_bootstrap, [topics.prefix + t for t in ("pairs.lifecycle.v1", "pairs.spreads.v1")]
        )
        ends = await end_offsets(kafka_bootstrap, [topics.prefix + t for t in INPUT_TOPICS])
        await wait_consumed(dsn, "signals", ends, 120)
        deadline = time.monotonic() + 60
        while not await forced_releases(dsn):
            assert time.monotonic() < deadline, "the bounded wait never expired"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the released batch is published after its commit
    rows = await forced_releases(dsn)
    assert len(rows) >= 1 and rows[0]["waited_s"] == 1.0
    assert "regime.shifts.v1" in rows[0]["lagging"]
    assert "pairs.spreads.v1" not in rows[0]["lagging"]
    # Every input had arrived before the wait expired, so nothing was decided differently.
    assert await published(kafka_bootstrap, topics.prefix) == expected_signals()
