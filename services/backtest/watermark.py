"""Event time of params.v1: parameter sets apply from the bar time of the activation that
caused them (envelope occurred_at = the lifecycle event's as_of), and the watermark says when
every set that applies at or before t has been published (contract rule 7).

A walk-forward started by a pair's activation at t holds the watermark below t until it
ends (completed, with or without a published set, or failed); otherwise the watermark
follows the lifecycle input's. signals waits for it (TITAN_SIGNALS_AWAIT_PARAMS), so a
spread at t is decided with exactly the sets in force at t.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.runtime.records import OutgoingRecord, TopicNames
from shared.runtime.watermarks import to_us, watermark_record
from shared.topics import PAIRS_LIFECYCLE, PARAMS

PRODUCER = "titan-backtest"


async def held_by_jobs(conn: Any) -> int | None:
    """Just before the earliest activation whose walk-forward has not ended (None: none)."""
    earliest = await conn.fetchval(
        """SELECT min(requested_at) FROM jobs
            WHERE source = 'lifecycle' AND kind = 'walk_forward'
              AND status IN ('queued', 'running')"""
    )
    return None if earliest is None else to_us(earliest) - 1


async def params_watermark(
    conn: Any, group_id: str, topics: TopicNames, lifecycle_partitions: int
) -> int | None:
    """The params watermark from the stored lifecycle watermarks and the jobs still open."""
    rows = await conn.fetch(
        "SELECT watermark_us FROM input_watermarks WHERE group_id = $1 AND topic = $2",
        group_id,
        topics.real(PAIRS_LIFECYCLE.name),
    )
    if lifecycle_partitions == 0 or len(rows) < lifecycle_partitions:
        return None
    mark: int = min(r["watermark_us"] for r in rows)
    held = await held_by_jobs(conn)
    return mark if held is None else min(mark, held)


def params_watermark_records(
    topics: TopicNames, partitions: int, watermark_us: int
) -> Sequence[OutgoingRecord]:
    real = topics.real(PARAMS.name)
    return [watermark_record(real, p, watermark_us, PRODUCER) for p in range(partitions)]


async def params_after_job(
    producer: AIOKafkaProducer, topics: TopicNames, group_id: str
) -> Callable[[Any], Awaitable[list[OutgoingRecord]]]:
    """After a job ends, the params watermark it may release (in the job's transaction)."""
    lifecycle = len(await producer.partitions_for(topics.real(PAIRS_LIFECYCLE.name)))
    params = len(await producer.partitions_for(topics.real(PARAMS.name)))

    async def records(conn: Any) -> list[OutgoingRecord]:
        mark = await params_watermark(conn, group_id, topics, lifecycle)
        return [] if mark is None else list(params_watermark_records(topics, params, mark))

    return records
