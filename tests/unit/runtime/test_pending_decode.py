"""Decodes handed to another process are collected once, before the batch's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from shared.clock import ManualClock
from shared.runtime.batch import BatchProcessor, DecodeResult, PendingDecode, PreparedBatch, Route
from shared.runtime.consumer import _settling_during
from shared.runtime.records import ConsumedRecord, TopicNames
from shared.runtime.store import RuntimeStore


class _Elsewhere(PendingDecode):
    def __init__(self, records: Sequence[ConsumedRecord]) -> None:
        self.records = records
        self.collected = 0

    async def result(self) -> DecodeResult:
        self.collected += 1
        return [r.value for r in self.records], []


async def _ignore(items: list[object], ctx: object) -> None:
    return None


def _record(offset: int) -> ConsumedRecord:
    return ConsumedRecord("p.market.ticks.v1", 0, offset, None, b"v%d" % offset, 0, ())


async def test_pending_decodes_settle_once_and_keep_their_result() -> None:
    handed: list[_Elsewhere] = []

    def decode(records: Sequence[ConsumedRecord]) -> DecodeResult | PendingDecode:
        handed.append(_Elsewhere(records))
        return handed[-1]

    topics = TopicNames("p.")
    processor = BatchProcessor(
        [Route("market.ticks.v1", _ignore, decode=decode)],
        RuntimeStore("test-group"),
        topics,
        ManualClock(datetime(2024, 1, 2, tzinfo=UTC)),
        "test",
    )
    records = [_record(i) for i in range(3)]
    batch = processor.prepare(*processor.group(records))
    assert batch.decoded == {} and list(batch.pending) == ["p.market.ticks.v1"]
    await batch.settle()
    await batch.settle()  # a retried batch settles again: nothing is collected twice
    assert batch.pending == {}
    assert batch.decoded == {"p.market.ticks.v1": ([b"v0", b"v1", b"v2"], [])}
    assert handed[0].collected == 1


class _Answered(PendingDecode):
    """A decode whose answer comes when `arrive` is set; it logs what happens to it."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.arrive = asyncio.Event()

    def needed(self) -> None:
        self.log.append("needed" if not self.arrive.is_set() else "needed, answer in")

    async def result(self) -> DecodeResult:
        self.log.append("collecting")
        await self.arrive.wait()
        self.log.append("collected")
        return [b"x"], []


def _prepared(decode: _Answered) -> PreparedBatch:
    return PreparedBatch({}, {}, {}, {"p.market.ticks.v1": decode})


async def test_a_batch_needed_at_once_says_so_before_collecting() -> None:
    log: list[str] = []
    decode = _Answered(log)
    decode.arrive.set()
    await _prepared(decode).settle()
    assert log == ["needed, answer in", "collecting", "collected"]


async def test_the_next_batch_is_collected_while_the_one_in_flight_runs() -> None:
    log: list[str] = []
    decode = _Answered(log)
    prepared = _prepared(decode)

    async def in_flight() -> None:
        await asyncio.sleep(0)
        log.append("previous batch committed")

    async def answer_later() -> None:
        await asyncio.sleep(0.05)
        decode.arrive.set()

    answering = asyncio.create_task(answer_later())
    await _settling_during(prepared, asyncio.create_task(in_flight()))
    await answering
    assert log == ["collecting", "previous batch committed", "needed", "collected"]
    assert prepared.decoded == {"p.market.ticks.v1": ([b"x"], [])} and prepared.pending == {}


async def test_an_answer_in_before_the_batch_in_flight_ends_is_never_needed_late() -> None:
    log: list[str] = []
    decode = _Answered(log)
    decode.arrive.set()

    async def in_flight() -> None:
        await asyncio.sleep(0.01)

    await _settling_during(_prepared(decode), asyncio.create_task(in_flight()))
    assert log == ["collecting", "collected"]  # settled before it was wanted: no needed()


async def test_a_failed_batch_in_flight_stops_collecting_the_next() -> None:
    decode = _Answered([])
    prepared = _prepared(decode)

    async def in_flight() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("offsets fenced")

    with pytest.raises(RuntimeError, match="offsets fenced"):
        await _settling_during(prepared, asyncio.create_task(in_flight()))
    assert list(prepared.pending) == ["p.market.ticks.v1"]  # left for nobody: never applied
    assert all(t.done() for t in asyncio.all_tasks() if t is not asyncio.current_task())
