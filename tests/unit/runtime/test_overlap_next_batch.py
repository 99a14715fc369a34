"""A route may let the consumer loop fetch the next batch while the server works on this one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from shared.clock import ManualClock
from shared.runtime.batch import BatchContext, BatchProcessor, Route
from shared.runtime.consumer import _until_overlapped
from shared.runtime.records import ConsumedRecord, TopicNames
from shared.runtime.store import RuntimeStore

TOPICS = TopicNames("p.")
CLOCK = ManualClock(datetime(2024, 1, 2, tzinfo=UTC))


async def _ignore(items: list[object], ctx: BatchContext) -> None:
    return None


def _processor(*routes: Route) -> BatchProcessor:
    return BatchProcessor(list(routes), RuntimeStore("test-group"), TOPICS, CLOCK, "test")


def _record(topic: str, offset: int) -> ConsumedRecord:
    value = b'{"not": "an envelope"}'
    return ConsumedRecord(TOPICS.real(topic), 0, offset, None, value, 0, ())


def test_only_a_batch_with_an_overlapping_route_carries_the_signal() -> None:
    processor = _processor(
        Route("market.ticks.v1", _ignore, overlaps_next_batch=True),
        Route("market.bars.v1", _ignore),
    )
    ticks = processor.prepare(*processor.group([_record("market.ticks.v1", 0)]))
    bars = processor.prepare(*processor.group([_record("market.bars.v1", 0)]))
    both = processor.prepare(
        *processor.group([_record("market.bars.v1", 1), _record("market.ticks.v1", 1)])
    )
    assert ticks.overlap is not None and not ticks.overlap.is_set()
    assert bars.overlap is None
    assert both.overlap is not None


async def test_the_loop_resumes_once_the_write_is_on_the_wire_and_before_the_batch_ends() -> None:
    steps: list[str] = []
    overlap = asyncio.Event()
    ctx = BatchContext(conn=None, topics=TOPICS, clock=CLOCK, producer_name="t",  # type: ignore[arg-type]
                       overlap=overlap)  # fmt: skip
    server_done = asyncio.Event()

    async def batch() -> None:
        steps.append("write sent")
        ctx.overlap_next_batch()
        steps.append("work while the server ingests")  # still before the loop resumes
        await server_done.wait()
        steps.append("committed")

    task = asyncio.create_task(batch())
    # Bounded: waiting for the whole batch instead would never end (the server waits on us).
    await asyncio.wait_for(_until_overlapped(task, overlap), timeout=5)
    steps.append("next batch fetched and decoded")
    server_done.set()
    await task
    assert steps == [
        "write sent",
        "work while the server ingests",
        "next batch fetched and decoded",
        "committed",
    ]


async def test_a_batch_that_never_signals_releases_the_loop_when_it_ends() -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("database down")

    task = asyncio.create_task(failing())
    await _until_overlapped(task, asyncio.Event())  # returns; the failure stays in the task
    with pytest.raises(RuntimeError, match="database down"):
        await task
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    await asyncio.sleep(0)  # the cancelled wait for the signal finishes
    assert all(t.done() for t in others)


def test_a_context_without_a_signal_ignores_the_call() -> None:
    ctx = BatchContext(conn=None, topics=TOPICS, clock=CLOCK, producer_name="t")  # type: ignore[arg-type]
    ctx.overlap_next_batch()  # direct processing (no pipelined loop): nothing to signal
