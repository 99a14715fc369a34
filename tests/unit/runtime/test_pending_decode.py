"""Decodes handed to another process are collected once, before the batch's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shared.clock import ManualClock
from shared.runtime.batch import BatchProcessor, DecodeResult, PendingDecode, Route
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
