"""Sending a watermark straight to every partition of a topic, for producers that are not
services (feeds, tools, tests): services send theirs through the outbox (event_time.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.runtime.watermarks import watermark_record


async def send_watermark(
    producer: AIOKafkaProducer, real_topic: str, watermark_us: int, producer_name: str
) -> list[asyncio.Future[Any]]:
    """One watermark record per partition of `real_topic`; returns the sends to await."""
    sends: list[asyncio.Future[Any]] = []
    for partition in sorted(await producer.partitions_for(real_topic)):
        r = watermark_record(real_topic, partition, watermark_us, producer_name)
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
