"""market_data's history API and DataFrame client, and the ops endpoints, on real servers."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd
import pytest

from services.market_data.bootstrap import MarketDataSettings, definition
from shared.clients.market_data import HistoryClient
from shared.settings import KafkaSettings
from tests.integration.market_data_support import feed, pandas_daily_bars, twenty_stock_ticks
from tests.integration.streams import end_offsets, running_service, wait_consumed

pytestmark = pytest.mark.integration
SYMBOLS = ["KO", "PEP", "XOM"]


async def test_history_api_pages_filters_and_refuses_bad_input(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    ticks = [t for t in twenty_stock_ticks(SYMBOLS) if t.ts.year in (2019, 2020)]
    names = await make_topics()
    await feed(kafka_bootstrap, names["market.ticks.v1"], ticks)
    dsn = await fresh_database("market_data")
    settings = MarketDataSettings(database_url=dsn, topic_prefix=names.prefix, bar_intervals="1d")
    ends = await end_offsets(kafka_bootstrap, [names["market.ticks.v1"]])
    async with running_service(
        definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)
    ) as runner:
        await wait_consumed(dsn, "market_data", ends)
        base = f"http://127.0.0.1:{runner.http_port}"
        expected = pandas_daily_bars(ticks)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            assert (await http.get("/healthz")).json()["status"] == "ok"
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            metrics = (await http.get("/metrics")).text
            assert "titan_records_in_total" in metrics and "titan_consumer_lag" in metrics
            spec = (await http.get("/openapi.json")).json()
            assert {"/bars", "/symbols", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])

            assert (await http.get("/symbols")).json()["symbols"] == sorted(SYMBOLS)

            # Paging with a cursor returns every closed bar exactly once, in order.
            got: list[dict[str, Any]] = []
            params: dict[str, Any] = {"symbols": ",".join(SYMBOLS), "interval": "1d", "limit": 97}
            pages = 0
            while True:
                page = (await http.get("/bars", params=params)).json()
                got.extend(page["bars"])
                pages += 1
                if not page["next_cursor"]:
                    break
                params["cursor"] = page["next_cursor"]
            assert pages == -(-len(expected) // 97)
            frame = pd.DataFrame(got)
            assert len(frame) == len(expected)
            assert list(zip(frame["symbol"], frame["close"], strict=True)) == list(
                zip(expected["symbol"], expected["close"], strict=True)
            )

            # A time range and CSV.
            response = await http.get(
                "/bars",
                params={
                    "symbols": "KO",
                    "start": "2020-03-01T00:00:00Z",
                    "end": "2020-04-01T00:00:00Z",
                    "format": "csv",
                },
            )
            assert response.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(response.text)))
            march = expected[
                (expected["symbol"] == "KO")
                & (expected["start"] >= pd.Timestamp("2020-03-01", tz="UTC"))
                & (expected["start"] < pd.Timestamp("2020-04-01", tz="UTC"))
            ]
            assert [float(r["close"]) for r in rows] == list(march["close"])

            for bad, reason in [
                ({"symbols": "KO", "interval": "5x"}, "unknown interval"),
                ({"symbols": "bad symbol!"}, "malformed symbols"),
                ({"symbols": ""}, "at least one symbol"),
                (
                    {
                        "symbols": "KO",
                        "start": "2020-02-01T00:00:00Z",
                        "end": "2020-01-01T00:00:00Z",
                    },
                    "must be after",
                ),
                ({"symbols": "KO", "cursor": "@@@"}, "invalid cursor"),
            ]:
                response = await http.get("/bars", params=bad)
                assert response.status_code == 400, (bad, response.text)
                assert reason in response.json()["detail"]
            assert (
                await http.get("/bars", params={"symbols": "KO", "limit": 0})
            ).status_code == 422

            # Unknown symbols are named in the answer (and in a CSV header).
            missing = await http.get("/bars", params={"symbols": "FOO,BAR"})
            assert missing.status_code == 200, missing.text
            assert missing.json() == {
                "bars": [],
                "next_cursor": None,
                "unknown_symbols": ["BAR", "FOO"],
            }
            some = await http.get("/bars", params={"symbols": "KO,FOO", "limit": 3})
            assert some.status_code == 200 and some.json()["unknown_symbols"] == ["FOO"]
            assert [b["symbol"] for b in some.json()["bars"]] == ["KO"] * 3
            as_csv = await http.get("/bars", params={"symbols": "KO,FOO", "format": "csv"})
            assert as_csv.headers["x-unknown-symbols"] == "FOO"
            known = (await http.get("/bars", params={"symbols": "KO", "limit": 1})).json()
            assert known["unknown_symbols"] == []
            hourly = await http.get("/bars", params={"symbols": "KO", "interval": "1h"})
            assert hourly.json()["unknown_symbols"] == ["KO"]
            assert (await HistoryClient(base).bars(["FOO"])).empty

        client = HistoryClient(base)
        closes = await client.closes(["KO", "PEP"], "1d", start=datetime(2020, 1, 1, tzinfo=UTC))
        assert list(closes.columns) == ["KO", "PEP"]
        ko = expected[
            (expected["symbol"] == "KO")
            & (expected["start"] >= pd.Timestamp("2020-01-01", tz="UTC"))
        ]
        assert list(closes["KO"]) == list(ko["close"])
        assert closes.index.is_monotonic_increasing
