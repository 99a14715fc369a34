"""A bar whose event id pairs consumed before: other content is poison, the same a duplicate.

Before event ids were checked, the forged copy below (the first bar's id, ten times its
close) was taken as a bar like any other and nothing reached the DLQ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.pairs.bootstrap import definition
from shared.settings import KafkaSettings
from tests.integration.streams import (
    end_offsets,
    read_topic,
    running_service,
    send_watermark,
    wait_consumed,
)
from tests.integration.test_pairs_service import (
    BARS,
    PRODUCED_AT,
    bar_envelope,
    bar_stream,
    service_settings,
)

pytestmark = pytest.mark.integration


async def test_pairs_dead_letters_a_reused_bar_id_and_drops_an_identical_copy(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]], service_dsn: Any
) -> None:
    names = await make_topics()
    envelopes = [bar_envelope(b) for b in bar_stream(40) if b.revision == 0]
    first = envelopes[0]
    forged = first.model_copy(
        update={"payload": first.payload.model_copy(update={"close": first.payload.close * 10})}
    )
    resent = first.model_copy(update={"produced_at": PRODUCED_AT + timedelta(hours=1)})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for envelope in [*envelopes, resent, forged]:
            await producer.send(names[BARS], envelope.to_bytes(), key=envelope.key.encode())
        await producer.flush()
    finally:
        await producer.stop()
    await send_watermark(kafka_bootstrap, [names[BARS]])

    dsn = service_dsn("pairs")
    ends = await end_offsets(kafka_bootstrap, [names[BARS]])
    settings = service_settings(dsn, names.prefix)
    async with running_service(definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)):
        await wait_consumed(dsn, "pairs", ends, timeout_s=90)

    dead = await read_topic(kafka_bootstrap, names[BARS] + ".dlq")
    assert [d.value for d in dead] == [forged.to_bytes()]
    reason = dead[0].headers["titan.error"].decode()
    assert f"event id {first.event_id} reused with different content" in reason
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "pairs"})
    try:
        closes = await conn.fetch(
            "SELECT close FROM bar_closes WHERE symbol = $1 AND bar_time = $2",
            first.payload.symbol,
            first.payload.start,
        )
        seen = await conn.fetchval("SELECT count(*) FROM seen_events")
    finally:
        await conn.close()
    assert [r["close"] for r in closes] == [first.payload.close]
    assert seen == len(envelopes)  # the identical copy was not taken as a new event
