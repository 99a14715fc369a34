"""Backtest service on real Kafka + PostgreSQL, history from a real market_data service.

market_data (in-process) builds daily bars from Tick events of MSFT and IBM; the backtest
service (in-process, its worker pool real) consumes a BacktestRequested from the topic and
answers with BacktestCompleted; the HTTP API accepts, reports and rejects precisely.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

import asyncpg
import httpx
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer

from services.backtest import bootstrap as backtest_bootstrap
from services.market_data import bootstrap as md_bootstrap
from services.market_data.feeds.encoding import tick_event_bytes
from services.market_data.feeds.replay import FeedTick
from shared.events import BacktestRequested, derive_id, make_envelope
from shared.settings import KafkaSettings
from tests.integration.streams import read_topic, running_service
from tests.unit.backtest_service.data_paths import msft_ibm_closes

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
N_DAYS = 260
API_TOKEN = "backtest-integration-test-token"


async def _feed_ticks(bootstrap: str, topic: str) -> None:
    closes = msft_ibm_closes(N_DAYS + 1)  # the last day's tick closes the previous bar
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for day, row in closes.iterrows():
            ts = datetime.combine(pd.Timestamp(str(day)).date(), dtime(21, 0), tzinfo=UTC)
            for symbol in ("MSFT", "IBM"):
                tick = FeedTick(symbol, ts, float(row[symbol]), 100.0, f"{symbol}-{ts}", "test")
                value = tick_event_bytes(tick, producer="test", produced_at=ts)
                await producer.send(topic, value=value, key=symbol.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _wait_for(predicate: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


async def test_request_on_topic_completes_and_http_api(
    kafka_bootstrap: str, make_topics: Callable[..., Any], service_dsn: Callable[[str], str],
) -> None:  # fmt: skip
    topics = await make_topics()
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    md_settings = md_bootstrap.MarketDataSettings(
        database_url=service_dsn("market_data"), topic_prefix=topics.prefix,
        bar_intervals="1d", bar_grace_seconds=0,
    )  # fmt: skip
    await _feed_ticks(kafka_bootstrap, topics["market.ticks.v1"])
    async with running_service(md_bootstrap.definition(), md_settings, kafka) as md:
        md_url = f"http://127.0.0.1:{md.http_port}"

        async def bars_ready() -> bool:
            async with httpx.AsyncClient() as client:
                r = await client.get(f"{md_url}/bars", params={"symbols": "IBM", "limit": 10_000})
            # IBM is named in unknown_symbols until its first bar closes
            return r.status_code == 200 and len(r.json()["bars"]) >= N_DAYS

        await _wait_for(bars_ready, 120, "market_data bars")
        bt_settings = backtest_bootstrap.BacktestSettings(
            database_url=service_dsn("backtest"), topic_prefix=topics.prefix,
            market_data_url=md_url, backtest_poll_interval_s=0.2, backtest_heartbeat_s=0.5,
            api_token=API_TOKEN,
        )  # fmt: skip
        async with running_service(backtest_bootstrap.definition(), bt_settings, kafka) as bt:
            await _exercise(bt.http_port, topics, kafka_bootstrap, service_dsn("backtest"))


async def _exercise(port: int | None, topics: Any, bootstrap: str, dsn: str) -> None:
    url = f"http://127.0.0.1:{port}"
    request = BacktestRequested(
        request_id="it-1", a="MSFT", b="IBM",
        grid={"entry_z": [1.5, 2.0], "exit_z": [0.5], "lookback": [20]},
        costs={"commission_bps": 1, "slippage_bps": 2},
    )  # fmt: skip
    now = datetime.now(UTC)
    envelope = make_envelope(request, event_id=derive_id("t", "it-1"), occurred_at=now,
                             key="it-1", producer="test", produced_at=now)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topics["backtest.requests.v1"], value=envelope.to_bytes(), key=b"it-1"
        )
    finally:
        await producer.stop()

    async with httpx.AsyncClient(base_url=url, timeout=30) as anonymous:
        # issue 19, item 6: no mutation without the deployment's token
        for path in ("/backtests", "/walk-forwards"):
            refused = await anonymous.post(path, json={"a": "MSFT", "b": "IBM"})
            assert refused.status_code == 401, refused.text
            assert refused.headers["www-authenticate"].startswith("Bearer")
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, timeout=30, headers=auth) as client:

        async def completed() -> dict[str, Any] | None:
            r = await client.get("/backtests/it-1")
            body: dict[str, Any] = r.json()
            return body if r.status_code == 200 and body["status"] == "completed" else None

        status = await _wait_for(completed, 180, "job it-1 completed")
        assert status["progress"] == 1.0 and status["n_combinations"] == 2
        assert status["best_params"]["lookback"] == 20
        results = await _wait_for(
            lambda: read_topic(bootstrap, topics["backtest.results.v1"], 10), 30, "results"
        )
        done = [r.json() for r in results if r.key == b"it-1"]
        assert [d["event_type"] for d in done][:1] == ["BacktestCompleted"]
        assert done[0]["payload"]["n_trades"] == status["n_trades"]
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "backtest"})
        try:
            equity = await conn.fetchval(
                "SELECT count(*) FROM equity_curves WHERE request_id='it-1'"
            )
            trades = await conn.fetchval("SELECT count(*) FROM trades WHERE request_id='it-1'")
        finally:
            await conn.close()
        assert equity >= N_DAYS - 1 and trades == status["n_trades"]

        report = await client.get("/backtests/it-1/report")
        assert report.status_code == 200 and "Objective heatmap" in report.text
        assert (await client.get("/backtests/nope")).status_code == 404
        assert (await client.get("/backtests/nope/report")).status_code == 404
        bad = await client.post("/backtests", json={"a": "MSFT", "b": "IBM",
                                                    "grid": {"lookback": [1]}})  # fmt: skip
        assert bad.status_code == 422 and "grid.lookback" in bad.text
        unknown = await client.post("/backtests", json={"a": "MSFT", "b": "ZZZ"})
        assert unknown.status_code == 422 and "unknown symbol(s) ZZZ" in unknown.text
        order = await client.post("/backtests", json={"a": "MSFT", "b": "IBM",
            "start": "2012-06-01T00:00:00Z", "end": "2012-01-01T00:00:00Z"})  # fmt: skip
        assert order.status_code == 422 and "must be after start" in order.text
        await _huge_requests_are_refused_without_stalling_the_service(client)
        accepted = await client.post(
            "/walk-forwards",
            json={"a": "MSFT", "b": "IBM", "grid": {"entry_z": [2.0], "exit_z": [0.5],
                  "lookback": [20]}, "options": {"train_bars": 120, "test_bars": 60,
                  "regimes": "none"}},
        )  # fmt: skip
        assert accepted.status_code == 202
        rid = accepted.json()["request_id"]
        wf = await _wait_for(
            lambda: completed_of(client, rid), 180, f"walk-forward {rid} completed"
        )
        assert wf["kind"] == "walk_forward" and wf["metrics"]["n_splits"] >= 2
        requests = await read_topic(bootstrap, topics["backtest.requests.v1"], 10)
        assert rid in {json.loads(r.value)["payload"]["request_id"] for r in requests}


async def completed_of(client: httpx.AsyncClient, rid: str) -> dict[str, Any] | None:
    r = await client.get(f"/backtests/{rid}")
    body: dict[str, Any] = r.json()
    return body if body.get("status") == "completed" else None


def _axis(n: int, low: float, high: float) -> list[float]:
    return [round(low + (high - low) * i / (n - 1), 2) for i in range(n)]


async def _huge_requests_are_refused_without_stalling_the_service(
    client: httpx.AsyncClient,
) -> None:
    """Issue 19, item 5: a 727-byte POST /backtests once held the event loop (HTTP and
    consumer) for 20 s while its grid was built. Bounds come before work, and the grid that
    must be built to be judged is built off the loop: /healthz answers meanwhile."""
    over_cells = {"a": "MSFT", "b": "IBM", "grid": {
        "entry_z": _axis(120, 0.5, 4), "exit_z": _axis(90, 0, 1), "stop_z": _axis(50, 2, 6)}}  # fmt: skip
    started = time.monotonic()
    refused = await client.post("/backtests", json=over_cells)
    assert refused.status_code == 422 and "cells, over" in refused.text
    assert time.monotonic() - started < 5.0

    # Just under the cell bound: ~800k valid combinations, built (most of a second) to be
    # counted and refused, from a body of 1.5 KB.
    heavy = {"a": "MSFT", "b": "IBM", "grid": {"entry_z": _axis(100, 0.5, 4),
             "exit_z": _axis(100, 0, 1), "stop_z": _axis(49, 2, 6)}}  # fmt: skip
    assert len(json.dumps(heavy)) < 2000
    post = asyncio.create_task(client.post("/backtests", json=heavy))
    answered_meanwhile = 0
    while not post.done():
        health = await client.get("/healthz")
        assert health.status_code == 200
        answered_meanwhile += not post.done()
    assert (await post).status_code == 422 and "exceed the limit" in (await post).text
    assert answered_meanwhile >= 1

    oversized = await client.post("/backtests", content=b" " * (2 << 20))
    assert oversized.status_code == 413
