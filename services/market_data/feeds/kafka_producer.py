"""Send ticks to market.ticks.v1 with an idempotent aiokafka producer (key = symbol).

The only module of the feeds that talks to a broker; everything it sends is built by
`encoding.tick_event_bytes`, which is tested without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from services.market_data.feeds.encoding import TickLike, tick_event_bytes
from shared.clock import Clock, SystemClock
from shared.runtime.send_watermarks import send_watermark
from shared.runtime.watermarks import END_OF_INPUT_US
from shared.topics import MARKET_TICKS

# The feed's event-time progress after `sent` ticks (the last batch given): a watermark in
# epoch microseconds (no tick at or before it follows), or None for no progress.
FeedWatermark = Callable[[int, Sequence[TickLike]], int | None]

# Throughput settings: 20 ms linger and 1 MiB batches let one partition carry tens of
# thousands of small records per second; acks=all + idempotence make retries harmless.
LINGER_MS = 20
MAX_BATCH_BYTES = 1 << 20
IN_FLIGHT_SENDS = 20_000  # unacknowledged sends awaited together, bounding memory


@dataclass
class ProduceCounts:
    sent: int = 0
    batches: int = 0


def tick_producer(client_kwargs: dict[str, object]) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **client_kwargs,
        enable_idempotence=True,
        acks="all",
        linger_ms=LINGER_MS,
        max_batch_size=MAX_BATCH_BYTES,
    )


async def produce_ticks(
    batches: AsyncIterable[Sequence[TickLike]],
    client_kwargs: dict[str, object],
    *,
    topic: str = MARKET_TICKS.name,
    producer_name: str = "feed",
    clock: Clock | None = None,
    watermark: FeedWatermark | None = None,
    end_of_input: bool = False,
) -> ProduceCounts:
    """Send every tick of every batch; returns once the broker acknowledged all of them.

    With `watermark`, the feed's progress goes to every partition after each batch (contract
    rule 7: an idle partition moves on too); with `end_of_input`, the end of the input does
    once every tick is sent, so the last bars close."""
    wall = clock if clock is not None else SystemClock()
    counts = ProduceCounts()
    producer = tick_producer(client_kwargs)
    await producer.start()
    try:
        pending: list[asyncio.Future[object]] = []
        last_mark: int | None = None

        async for batch in batches:
            produced_at = wall.now()
            for tick in batch:
                value = tick_event_bytes(tick, producer=producer_name, produced_at=produced_at)
                pending.append(await producer.send(topic, value, key=tick.symbol.encode()))
            counts.sent += len(batch)
            counts.batches += 1
            mark = watermark(counts.sent, batch) if watermark is not None else None
            if mark is not None and (last_mark is None or mark > last_mark):
                last_mark = mark
                pending.extend(await send_watermark(producer, topic, mark, producer_name))
            if len(pending) >= IN_FLIGHT_SENDS:
                await asyncio.gather(*pending)
                pending.clear()
        if end_of_input:
            pending.extend(await send_watermark(producer, topic, END_OF_INPUT_US, producer_name))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return counts
