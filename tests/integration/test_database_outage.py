"""Issue 19, item 2: a PostgreSQL outage mid-stream killed pairs (its state reload after a
failed batch and the outbox relay took connections with no retry). Here the database
vanishes for a few seconds under a running pairs, by a relay in front of the real server;
pairs must wait it out and publish exactly what an offline run of the same bars gives."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from services.pairs.bootstrap import definition
from shared.settings import KafkaSettings
from tests.integration.streams import end_offsets, running_service, wait_consumed, wait_outbox_sent
from tests.integration.tcp_cut import CuttableRelay
from tests.integration.test_pairs_service import (
    BARS,
    bar_stream,
    offline_events,
    produce_bars,
    published,
    service_settings,
    wait_progress,
)

pytestmark = pytest.mark.integration
OUTAGE_S = 4.0


async def test_pairs_waits_out_a_database_outage_mid_stream(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]], service_dsn: Any
) -> None:
    bars = bar_stream(200)
    names = await make_topics()
    await produce_bars(kafka_bootstrap, names[BARS], bars)
    ends = await end_offsets(kafka_bootstrap, [names[BARS]])
    dsn = service_dsn("pairs")
    real = urlsplit(dsn)
    relay = CuttableRelay(real.hostname or "127.0.0.1", real.port or 5432)
    port = await relay.start()
    login, _, _ = real.netloc.rpartition("@")
    through_relay = urlunsplit(real._replace(netloc=f"{login}@127.0.0.1:{port}"))
    settings = service_settings(through_relay, names.prefix).model_copy(
        update={"batch_max_records": 20, "outbox_relay_interval_s": 0.2}
    )
    try:
        async with running_service(
            definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)
        ):
            await wait_progress(dsn, 0.3 * sum(ends.values()), timeout_s=120)
            await relay.cut()
            await asyncio.sleep(OUTAGE_S)
            await relay.restore()
            await wait_consumed(dsn, "pairs", ends, timeout_s=180)
            await wait_outbox_sent(dsn, "pairs")
    finally:
        await relay.cut()
    events = await published(kafka_bootstrap, names)
    assert events == offline_events(bars)
    assert any(v["event_type"] == "SpreadUpdated" for v in events.values())
