"""The transaction the consumer opens ahead of its next batch, broken while it waits.

The runtime begins the next batch's transaction (and takes its batch number) while the loop
waits for records. Here that idle transaction's backend is terminated between two parts of
a replay: the batch that lands on it must fail, be retried on a fresh connection, and leave
the same tables and the same published events as a run without the fault.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from services.market_data.bootstrap import MarketDataSettings, definition
from shared.events import decode
from shared.settings import KafkaSettings
from tests.integration.market_data_support import feed, table_snapshot, twenty_stock_ticks
from tests.integration.streams import end_offsets, read_topic, running_service, wait_consumed

pytestmark = pytest.mark.integration
TICKS, BARS = "market.ticks.v1", "market.bars.v1"
# The open-ahead transaction appears right after a batch commits; a few seconds is plenty.
APPEAR_TIMEOUT_S = 10.0


async def _terminate_idle_transactions(dsn: str) -> int:
    """Terminate this database's idle-in-transaction backends (the service's own role)."""
    deadline = time.monotonic() + APPEAR_TIMEOUT_S
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            pids = [
                r["pid"]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                )
            ]
            if pids:
                for pid in pids:
                    await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
                return len(pids)
            await asyncio.sleep(0.05)
        return 0
    finally:
        await conn.close()


def _bar_contents(records: list[Any]) -> dict[str, dict[str, Any]]:
    copies: dict[str, set[bytes]] = defaultdict(set)
    for r in records:
        copies[json.loads(r.value)["event_id"]].add(r.value)
    assert all(len(v) == 1 for v in copies.values())  # a repeat is only ever an exact copy
    return {k: decode(next(iter(v))).content_identity() for k, v in copies.items()}


async def test_a_broken_transaction_opened_ahead_loses_and_repeats_nothing(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    ticks = twenty_stock_ticks(["KO", "PEP"])
    half = len(ticks) // 2
    faulty, clean = await make_topics(), await make_topics()
    faulty_dsn, clean_dsn = await fresh_database("market_data"), await fresh_database("market_data")
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)

    await feed(kafka_bootstrap, faulty[TICKS], ticks[:half])
    settings = MarketDataSettings(
        database_url=faulty_dsn, topic_prefix=faulty.prefix, bar_intervals="1d"
    )
    async with running_service(definition(), settings, kafka) as runner:
        await wait_consumed(
            faulty_dsn, "market_data", await end_offsets(kafka_bootstrap, [faulty[TICKS]])
        )
        assert await _terminate_idle_transactions(faulty_dsn) >= 1, "no transaction opened ahead"
        await feed(kafka_bootstrap, faulty[TICKS], ticks[half:])
        await wait_consumed(
            faulty_dsn, "market_data", await end_offsets(kafka_bootstrap, [faulty[TICKS]])
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}") as http:
            metrics = (await http.get("/metrics")).text
    # The batch that met the broken transaction failed once and was retried.
    retried = re.search(
        r'^titan_transient_retries_total\{what="process batch"\} (\S+)$', metrics, re.M
    )
    assert retried is not None and float(retried[1]) >= 1, metrics

    await feed(kafka_bootstrap, clean[TICKS], ticks)
    clean_settings = MarketDataSettings(
        database_url=clean_dsn, topic_prefix=clean.prefix, bar_intervals="1d"
    )
    async with running_service(definition(), clean_settings, kafka):
        await wait_consumed(
            clean_dsn, "market_data", await end_offsets(kafka_bootstrap, [clean[TICKS]])
        )

    assert await table_snapshot(faulty_dsn) == await table_snapshot(clean_dsn)
    faulty_bars = _bar_contents(await read_topic(kafka_bootstrap, faulty[BARS]))
    clean_bars = _bar_contents(await read_topic(kafka_bootstrap, clean[BARS]))
    assert faulty_bars == clean_bars
