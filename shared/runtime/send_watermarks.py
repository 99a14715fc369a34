"""Sending a watermark straight to every partition of a topic, for producers that are not
services (feeds, tools, tests): services send theirs through the outbox (event_time.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.runtime.watermarks import watermark_record
from shared.topics import CONTRACT_TOPICS


def sources_of(real_topic: str) -> tuple[str, ...]:
    """The watermark sources of a contract topic behind any prefix ("" for other topics)."""
    for spec in CONTRACT_TOPICS:
        if real_topic == spec.name or real_topic.endswith("." + spec.name):
            return spec.watermark_sources
    return ("",)


async def send_watermark(
    producer: AIOKafkaProducer, real_topic: str, watermark_us: int, producer_name: str
) -> list[asyncio.Future[Any]]:
    """One watermark record per partition (and declared source) of `real_topic`; returns the
    sends to await. A tool speaking for a topic speaks for all of its writers."""
    sends: list[asyncio.Future[Any]] = []
    partitions = sorted(await producer.partitions_for(real_topic))
    for partition, source in ((p, s) for p in partitions for s in sources_of(real_topic)):
        r = watermark_record(real_topic, partition, watermark_us, producer_name, source)
        sends.append(
            await producer.send(
                real_topic,
                r.value,
                key=(r.key or "").encode(),
                partition=partition,
                headers=list(r.headers),
            )
        )
    return sends
