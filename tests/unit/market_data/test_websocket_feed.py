from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from services.market_data.feeds.websocket import Backoff, FieldMapping, WebsocketTradeFeed
from shared.events import Tick

RECORDED = Path(__file__).with_name("recorded_trades.jsonl").read_text().splitlines()
BINANCE = FieldMapping(symbol="s", price="p", size="q", ts="T", ts_unit="ms", trade_id="t")


async def _play(connection: ServerConnection) -> None:
    for line in RECORDED:
        await connection.send(line)
    await connection.close()  # the feed must reconnect and get the recording again


@pytest.fixture
async def server_url() -> AsyncIterator[str]:
    async with serve(_play, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_feed_maps_trades_ignores_others_and_reconnects(server_url: str) -> None:
    sleeps: list[float] = []

    async def no_wait(seconds: float) -> None:
        sleeps.append(seconds)

    feed = WebsocketTradeFeed(server_url, BINANCE, match={"e": "trade"}, sleep=no_wait)
    ticks: list[Tick] = []
    async with asyncio.timeout(10):
        async for batch in feed.ticks():
            ticks += batch
            if len(ticks) >= 6:
                break
    first = ticks[0]
    assert (first.symbol, first.price, first.size, first.trade_id) == (
        "BTCUSDT",
        37000.5,
        0.01,
        "101",
    )
    assert first.ts == datetime(2023, 11, 14, 22, 13, 20, 50_000, tzinfo=UTC)
    assert [t.trade_id for t in ticks] == ["101", "7", "103"] * 2
    assert feed.stats.connects == 2 and sleeps == [0.5]
    assert feed.stats.invalid >= 2 and feed.stats.ignored >= 2  # the -1 price, the bad JSON


async def test_feed_gives_up_after_max_attempts() -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    feed = WebsocketTradeFeed(
        "ws://127.0.0.1:9", BINANCE, backoff=Backoff(0.1, 0.3, max_attempts=3), sleep=record
    )
    with pytest.raises(ConnectionError, match="giving up"):
        async for _ in feed.ticks():
            pass
    assert delays == [0.1, 0.2, 0.3]


def test_mapping_from_json_rejects_unknown_keys_and_units() -> None:
    assert FieldMapping.from_json('{"symbol": "s", "ts_unit": "us"}').ts_unit == "us"
    with pytest.raises(ValueError, match="unknown mapping key"):
        FieldMapping.from_json('{"sym": "s"}')
    with pytest.raises(ValueError, match="ts_unit"):
        FieldMapping.from_json('{"ts_unit": "minutes"}')
    with pytest.raises(ValueError, match="not JSON"):
        FieldMapping.from_json("{")


def test_iso_timestamps_and_missing_size() -> None:
    mapping = FieldMapping(ts_unit="iso", size=None)
    tick = mapping.to_tick({"symbol": "eurusd", "price": 1.08, "ts": "2024-01-02T10:00:00+01:00"})
    assert (tick.symbol, tick.size, tick.ts) == ("EURUSD", 0.0, datetime(2024, 1, 2, 9, tzinfo=UTC))
