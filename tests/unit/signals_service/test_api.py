"""HTTP API on the in-memory store: history, open positions, input errors, the SSE stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from core.strategy import PairLifecycle, StrategyParams
from services.signals.api import build_router
from services.signals.client import BlockingSignalClient
from services.signals.domain import ParamsBook, SignalEngine
from services.signals.store import SignalsStore
from shared.events import Payload
from shared.runtime.http import HttpServer
from tests.unit.signals_service.builders import bar, feed, spread
from tests.unit.signals_service.fake_store import InMemorySignalsStore
from tests.unit.signals_service.test_client import ListSource

PAIR, OTHER = "AAA~BBB", "CCC~DDD"


async def filled_store() -> tuple[InMemorySignalsStore, SignalEngine]:
    store = InMemorySignalsStore()
    engine = SignalEngine(
        ParamsBook(StrategyParams(version="d")), unknown_lifecycle=PairLifecycle.ACTIVE
    )
    await apply(store, engine, [spread(PAIR, i, z) for i, z in enumerate([-2.5, 0.0, 2.5])])
    await apply(store, engine, [spread(OTHER, 0, 0.0), spread(OTHER, 1, -3.0)])
    return store, engine


async def apply(store: InMemorySignalsStore, engine: SignalEngine, events: list[Payload]) -> None:
    for e in events:
        feed(engine, e)
    await store.save(engine.take_changes())


def app_for(store: InMemorySignalsStore, poll_s: float = 0.02) -> FastAPI:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[SignalsStore]:
        yield store

    app = FastAPI()
    app.include_router(build_router(open_store, poll_s=poll_s))
    return app


async def get(app: FastAPI, url: str, **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get(url, **kw)


async def test_history_filters_by_pair_and_time() -> None:
    store, _ = await filled_store()
    app = app_for(store)
    every = (await get(app, "/signals")).json()
    assert every["count"] == 4
    assert [s["bar_time"][:10] for s in every["signals"]] == [
        "2020-01-01",
        "2020-01-02",
        "2020-01-02",
        "2020-01-03",
    ]
    mine = (await get(app, "/signals", params={"pair_id": PAIR, "start": "2020-01-02"})).json()
    assert [s["action"] for s in mine["signals"]] == ["close", "open_short_spread"]
    until = (await get(app, "/signals", params={"end": bar(1).isoformat(), "limit": 5})).json()
    assert [s["action"] for s in until["signals"]] == ["open_long_spread"]
    assert (await get(app, "/signals", params={"limit": 1})).json()["count"] == 1


async def test_active_positions_come_with_their_opening_signal() -> None:
    store, _ = await filled_store()
    body = (await get(app_for(store), "/signals/active")).json()
    assert body["count"] == 2
    by_pair = {p["pair_id"]: p for p in body["positions"]}
    assert by_pair[PAIR]["side"] == "short_spread"
    assert by_pair[PAIR]["opening_signal"]["signal_id"] == by_pair[PAIR]["opening_signal_id"]
    assert by_pair[OTHER]["opening_signal"]["action"] == "open_long_spread"


async def test_bad_queries_get_precise_4xx() -> None:
    app = app_for(InMemorySignalsStore())
    r = await get(app, "/signals", params={"pair_id": "AAABBB"})
    assert r.status_code == 400 and "A~B" in r.json()["detail"]
    r = await get(app, "/signals", params={"start": "2020-02-01", "end": "2020-01-01"})
    assert r.status_code == 400 and "must be before end" in r.json()["detail"]
    assert (await get(app, "/signals", params={"limit": 0})).status_code == 422
    assert (await get(app, "/signals", params={"start": "yesterday"})).status_code == 422
    r = await get(app, "/signals/stream", headers={"Last-Event-ID": "abc"})
    assert r.status_code == 400 and "Last-Event-ID" in r.json()["detail"]


async def read_events(
    url: str, n: int, headers: dict[str, str]
) -> list[tuple[int, dict[str, Any]]]:
    events: list[tuple[int, dict[str, Any]]] = []
    async with (
        httpx.AsyncClient(timeout=10) as client,
        client.stream("GET", url, headers=headers) as r,
    ):
        assert r.headers["content-type"].startswith("text/event-stream")
        event_id: int | None = None
        async for line in r.aiter_lines():
            if line.startswith("id: "):
                event_id = int(line[4:])
            elif line.startswith("data: "):
                assert event_id is not None
                events.append((event_id, json.loads(line[6:])))
                if len(events) == n:
                    break
    return events


async def test_sse_streams_new_signals_and_resumes_from_last_event_id() -> None:
    store, engine = await filled_store()
    server = HttpServer(app_for(store), "127.0.0.1", 0)
    port = await server.start()
    url = f"http://127.0.0.1:{port}/signals/stream"
    try:
        # From the start of the table (Last-Event-ID 0): the four stored signals.
        replay = await read_events(url, 4, {"Last-Event-ID": "0"})
        assert [seq for seq, _ in replay] == [1, 2, 3, 4]
        # Resume after seq 2, and see a signal committed while the stream is open.
        reader = asyncio.create_task(read_events(url, 3, {"Last-Event-ID": "2"}))
        await asyncio.sleep(0.2)
        await apply(store, engine, [spread(PAIR, 3, 0.1)])
        resumed = await asyncio.wait_for(reader, 10)
        assert [seq for seq, _ in resumed] == [3, 4, 5]
        assert resumed[-1][1]["action"] == "close" and resumed[-1][1]["pair_id"] == PAIR
        # The blocking client reads the same history over HTTP, from inside this loop.
        with BlockingSignalClient(ListSource(0), service_url=f"http://127.0.0.1:{port}") as c:
            history = await asyncio.to_thread(c.fetch_history, PAIR, bar(1), None, 10)
            active = await asyncio.to_thread(c.active_positions)
        assert [s.action for s in history] == ["close", "open_short_spread", "close"]
        assert [p["pair_id"] for p in active] == [OTHER]
    finally:
        await server.stop()
