"""The example service (example_service.py) built from its definition, one batch through
`BatchProcessor` on a fake connection; and the unit of work's order of steps."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.clock import ManualClock
from shared.events import Bar, derive_id, make_envelope
from shared.runtime.batch import BatchProcessor
from shared.runtime.records import ConsumedRecord, OutgoingRecord, TopicNames
from shared.runtime.service import Runtime, ServiceContext
from shared.runtime.store import RuntimeStore
from shared.runtime.unit_of_work import UnitsOfWork
from shared.topics import MARKET_BARS
from tests.unit.runtime.example_service import CounterSettings, definition

T0 = datetime(2024, 1, 2, tzinfo=UTC)


class FakeConnection:
    """Just what a batch does with its connection; every statement is logged."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.outbox: list[Any] = []

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        self.log.append("begin")
        yield
        self.log.append("commit")

    async def fetchval(self, sql: str, *args: Any) -> int:
        self.log.append(sql.split()[0])
        return 7  # the outbox sequence

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.log.append("offsets" if "consumer_offsets" in sql else sql.split()[0])
        if "consumer_offsets" in sql:  # the fenced upsert: every partition stored
            return [{"topic": t, "partition": p} for t, p in zip(args[1], args[2], strict=True)]
        return []

    async def execute(self, sql: str, *args: Any) -> str:
        self.log.append(sql.split()[0])
        return "OK"

    async def executemany(self, sql: str, rows: list[Any]) -> None:
        self.log.append(f"{sql.split()[0]} {sql.split()[2]} x{len(rows)}")

    async def copy_records_to_table(self, table: str, **kwargs: Any) -> None:
        self.log.append(f"copy {table}")
        self.outbox.extend(kwargs.get("records", ()))


def _bar(symbol: str, interval: str, offset: int) -> ConsumedRecord:
    start = T0 + timedelta(days=offset)
    bar = Bar(
        bar_id=uuid.uuid4(), symbol=symbol, interval=interval, start=start,
        end=start + timedelta(days=1), open=1.0, high=1.0, low=1.0, close=10.0 + offset,
        volume=1.0, vwap=1.0, trade_count=1,
    )  # fmt: skip
    envelope = make_envelope(
        bar, event_id=derive_id("t", symbol, str(offset)), occurred_at=bar.end, key=symbol,
        producer="t", produced_at=T0,
    )  # fmt: skip
    return ConsumedRecord("p." + MARKET_BARS.name, 0, offset, symbol.encode(), envelope.to_bytes())


async def test_the_example_service_runs_one_batch_from_its_definition() -> None:
    d = definition()
    settings = CounterSettings(database_url="postgresql://unused/titan")
    runtime = Runtime(
        d.name, settings, None, None, TopicNames("p."), None, ManualClock(T0), None, None, None
    )
    ctx = ServiceContext(**vars(runtime), app=d.build_app(runtime))  # as ServiceRunner does
    processor = BatchProcessor(
        d.routes(ctx), RuntimeStore("titan-counter"), ctx.topics, ctx.clock, "titan-counter"
    )
    conn = FakeConnection()
    records = [_bar("KO", "1d", 0), _bar("PEP", "1d", 1), _bar("KO", "1h", 2), _bar("KO", "1d", 3)]
    outcome = await processor.process(conn, records, {("p." + MARKET_BARS.name, 0): None})

    assert ctx.app.counts == {"KO": 2, "PEP": 1}
    assert outcome.batch_no == 7 and outcome.dead_letters == {"p." + MARKET_BARS.name: 1}
    assert conn.log[0] == "begin" and conn.log[-1] == "commit"
    assert "INSERT bar_counts x3" in conn.log and conn.log.index("offsets") < len(conn.log) - 1
    assert [r.topic for r in outcome.outgoing] == [ctx.topics.dlq("p." + MARKET_BARS.name)]


class _Outbox:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def write(self, conn: Any, records: list[OutgoingRecord]) -> int:
        self.log.append(f"outbox {len(records)}")
        return 1

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        self.log.append(f"publish {batch_no}")


async def test_a_unit_of_work_writes_the_outbox_before_commit_and_publishes_after() -> None:
    log: list[str] = []

    @contextlib.asynccontextmanager
    async def transaction() -> AsyncIterator[str]:
        log.append("begin")
        yield "conn"
        log.append("commit")

    units = UnitsOfWork(transaction, _Outbox(log), TopicNames("p."), "titan-t", ManualClock(T0))
    async with units() as uow:
        log.append(f"write on {uow.conn}")
        uow.emit_records([OutgoingRecord("p.x", None, b"{}", None)])
    assert log == ["begin", "write on conn", "outbox 1", "commit", "publish 1"]

    log.clear()
    async with units() as uow:  # nothing emitted: no batch number, nothing published
        log.append("read")
    assert log == ["begin", "read", "commit"]
