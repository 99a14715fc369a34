"""The portfolio service as deployed (a child process on Kafka and PostgreSQL): SIGKILLed
five times mid-replay it ends with the clean run's events and tables; inputs delivered
twice (late copies after their release) change nothing. The clean run is the handlers
driven in-process over the same events (tests/unit/portfolio_service/driver.py)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.portfolio.settings import PortfolioSettings
from services.portfolio.store import OrderQuery, PgPortfolioStore, PortfolioStore
from shared.events import Envelope
from shared.runtime.send_watermarks import send_watermark
from shared.runtime.watermarks import END_OF_INPUT_US, to_us
from tests.integration.streams import (
    ServiceProcess,
    end_offsets,
    kill_mid_stream,
    read_topic,
    wait_consumed_by,
    wait_outbox_sent,
)
from tests.unit.portfolio_service.builders import DAY, day, long_scenario
from tests.unit.portfolio_service.driver import Run, run_releases

pytestmark = pytest.mark.integration
DAYS = 60
INPUTS = ("market.bars.v1", "pairs.lifecycle.v1", "signals.v1")
OUTPUTS = ("portfolio.orders.v1", "portfolio.positions.v1")
PORTFOLIO_ENV = {
    "TITAN_PORTFOLIO_CAPITAL": "100000",
    "TITAN_PORTFOLIO_MAX_PAIRS": "2",
    "TITAN_PORTFOLIO_MAX_SYMBOL_EXPOSURE": "0.8",
    "TITAN_PORTFOLIO_COMMISSION_BPS": "1",
    "TITAN_PORTFOLIO_SLIPPAGE_BPS": "2",
    "TITAN_PORTFOLIO_BORROW_BPS_ANNUAL": "50",
}


def env_for(dsn: str, bootstrap: str, prefix: str, home: Path) -> dict[str, str]:
    return {
        "TITAN_DATABASE_URL": dsn, "TITAN_KAFKA_BOOTSTRAP": bootstrap,
        "TITAN_TOPIC_PREFIX": prefix, "TITAN_HTTP_PORT": "0", "TITAN_HOME": str(home),
        # A killed member holds its partitions for the session timeout: 6 s, not 45.
        "TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "TITAN_BATCH_MAX_RECORDS": "25", "TITAN_BATCH_TIMEOUT_MS": "20",
        **PORTFOLIO_ENV,
    }  # fmt: skip


def config() -> Any:
    fields = {k.removeprefix("TITAN_").lower(): v for k, v in PORTFOLIO_ENV.items()}
    return PortfolioSettings(database_url="postgresql://x@localhost/x", **fields).portfolio_config()


async def replay(bootstrap: str, prefix: str, *, twice: bool = False) -> int:
    """The inputs day by day, each day's bars then the next day's lifecycle changes and
    signals, a watermark on every input partition after each day (the bars ending then);
    with `twice`, everything again once half of it was released. Returns records sent."""
    events = long_scenario(DAYS)
    by_day: dict[int, list[tuple[str, Envelope[Any]]]] = {}
    for topic, items in events.items():
        for e in items:
            # a bar is stamped with its end, the rest with the bar start they were decided at
            n = (e.occurred_at - day(0)) // DAY - 1
            by_day.setdefault(n, []).append((topic, e))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    sent = 0
    try:
        for n in sorted(by_day):
            for topic, e in by_day[n]:
                await producer.send(prefix + topic, e.to_bytes(), key=e.key.encode())
                sent += 1
            mark = END_OF_INPUT_US if n == max(by_day) else to_us(day(n + 1))
            if twice and n == DAYS // 2:  # copies of what is already released: late input
                for topic, items in events.items():
                    for e in items:
                        await producer.send(prefix + topic, e.to_bytes(), key=e.key.encode())
                        sent += 1
            for topic in INPUTS:
                sent += len(await send_watermark(producer, prefix + topic, mark, "test-feed"))
        await producer.flush()
    finally:
        await producer.stop()
    return sent


async def published(bootstrap: str, prefix: str) -> dict[str, dict[str, Any]]:
    """Events by topic and event id; copies of one id must be exact copies."""
    out: dict[str, dict[str, Any]] = {}
    for topic in OUTPUTS:
        for record in await read_topic(bootstrap, prefix + topic):
            env = json.loads(record.value)
            event_type, payload = env["event_type"], env["payload"]
            assert out.setdefault(event_type, {}).setdefault(env["event_id"], payload) == payload
    return out


async def tables(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "portfolio"})
    try:
        orders = await conn.fetch("SELECT order_id, quantity, status FROM orders")
        fills = await conn.fetch("SELECT order_id, price, cost, quantity FROM fills")
        marks = await conn.fetch("SELECT bar_time, equity, pnl, cash FROM marks")
        rejected = await conn.fetch("SELECT order_id, reason FROM rejections")
        book = await conn.fetchrow("SELECT state, last_bar_time, bars FROM book_state")
    finally:
        await conn.close()
    assert book is not None
    return {
        "orders": {r["order_id"]: (r["quantity"], r["status"]) for r in orders},
        "fills": {r["order_id"]: (r["price"], r["cost"], r["quantity"]) for r in fills},
        "marks": {r["bar_time"]: (r["equity"], r["pnl"], r["cash"]) for r in marks},
        "rejections": {r["order_id"]: r["reason"] for r in rejected},
        "book": (book["state"], book["last_bar_time"], book["bars"]),
    }


def expected_tables(run: Run) -> dict[str, Any]:
    t = run.store.tables()
    book_json, progress = t["books"]["default"]
    return {
        "orders": {k: (o["row"][4], o["status"]) for k, o in t["orders"].items()},
        "fills": {k: (r[6], r[7], r[5]) for k, r in t["fills"].items()},
        "marks": {k[1]: (r[2], r[4], r[3]) for k, r in t["marks"].items()},
        "rejections": {k: o["row"][6] for k, o in t["rejections"].items()},
        "book": (book_json, progress.last_bar_time, progress.bars),
    }


@pytest.fixture(scope="module")
def clean() -> Run:
    return asyncio.run(run_releases(config(), long_scenario(DAYS)))


async def run_service(
    kafka_bootstrap: str, topics: Any, dsn: str, tmp_path: Path, *, kills: int, twice: bool
) -> None:
    service = ServiceProcess("portfolio", env_for(dsn, kafka_bootstrap, topics.prefix,
                                                  tmp_path / "home"), tmp_path / "portfolio.log")  # fmt: skip
    try:
        total = await replay(kafka_bootstrap, topics.prefix, twice=twice)
        await kill_mid_stream(service, dsn, "portfolio", total, kills, random.Random(16))
        service.start()
        ends = await end_offsets(kafka_bootstrap, [topics.prefix + t for t in INPUTS])
        await wait_consumed_by(service, dsn, "portfolio", ends, 240)
        await wait_outbox_sent(dsn, "portfolio")
        assert service.terminate() == 0
    finally:
        if service.alive():
            service.kill()


async def test_kill_9_five_times_mid_replay_gives_the_clean_events_and_tables(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
    clean: Run,
) -> None:
    topics, dsn = await make_topics(), await fresh_database("portfolio")
    await run_service(kafka_bootstrap, topics, dsn, tmp_path, kills=5, twice=False)
    expected = clean.by_topic()
    assert len(expected["PositionsMarked"]) == DAYS and len(expected["OrderPlanned"]) > 10
    assert await published(kafka_bootstrap, topics.prefix) == expected
    assert await tables(dsn) == expected_tables(clean)
    # The HTTP API's queries on PostgreSQL answer as the in-memory fake does (store contract).
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "portfolio"})
    try:
        on_pg, in_memory = await queries(PgPortfolioStore(conn)), await queries(clean.store)
    finally:
        await conn.close()
    for n, (got, want) in enumerate(zip(on_pg, in_memory, strict=True)):
        if isinstance(want, list):
            assert len(got) == len(want), n
            for a, b in zip(got, want, strict=True):
                assert a == b, n
        else:
            assert got == want, n


async def queries(store: PortfolioStore) -> list[Any]:
    pid = "default"
    return [
        await store.latest_mark(pid),
        await store.marks(pid, day(10), day(20), 5),
        await store.marks(pid, None, None, 1000),
        await store.orders(pid, OrderQuery()),
        await store.orders(pid, OrderQuery(status="filled", symbol="BBB", limit=3)),
        await store.orders(pid, OrderQuery(start=day(20), end=day(40))),
        await store.rejections(pid, 100),
    ]


async def test_inputs_delivered_twice_change_nothing(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
    clean: Run,
) -> None:
    topics, dsn = await make_topics(), await fresh_database("portfolio")
    await run_service(kafka_bootstrap, topics, dsn, tmp_path, kills=1, twice=True)
    assert await published(kafka_bootstrap, topics.prefix) == clean.by_topic()
    assert await tables(dsn) == expected_tables(clean)
