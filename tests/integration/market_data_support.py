"""Support for the market_data integration tests: feeding ticks, pandas reference bars."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from services.market_data.feeds.kafka_producer import produce_ticks
from services.market_data.feeds.replay import FeedTick, replay_ticks

DATA = Path(__file__).resolve().parents[2] / "services" / "market_data" / "data"
TWENTY_STOCKS = DATA / "sp500_20stocks_daily_1990_2022.csv.gz"
BAR_KEY = ["symbol", "interval", "start"]
BAR_VALUES = ["open", "high", "low", "close", "volume", "vwap", "trade_count"]


def twenty_stock_ticks(symbols: Sequence[str] | None = None) -> list[FeedTick]:
    return replay_ticks(TWENTY_STOCKS, symbols=symbols)


async def feed(bootstrap: str, topic: str, ticks: Sequence[Any], chunk: int = 5000) -> int:
    async def batches() -> AsyncIterator[Sequence[Any]]:
        for i in range(0, len(ticks), chunk):
            yield ticks[i : i + chunk]

    counts = await produce_ticks(batches(), {"bootstrap_servers": bootstrap}, topic=topic)
    return counts.sent


def pandas_daily_bars(ticks: Sequence[FeedTick]) -> pd.DataFrame:
    """Independent reference: 1d bars by pandas resampling, closed bars only."""
    frame = pd.DataFrame(
        {
            "symbol": [t.symbol for t in ticks],
            "ts": [t.ts for t in ticks],
            "price": [t.price for t in ticks],
            "size": [t.size for t in ticks],
        }
    )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["pv"] = frame["price"] * frame["size"]
    out = []
    for symbol, group in frame.groupby("symbol"):
        g = group.set_index("ts").sort_index(kind="mergesort")
        r = g.resample("1D")
        bars = pd.DataFrame(
            {
                "open": r["price"].first(),
                "high": r["price"].max(),
                "low": r["price"].min(),
                "close": r["price"].last(),
                "volume": r["size"].sum(),
                "pv": r["pv"].sum(),
                "price_sum": r["price"].sum(),
                "trade_count": r["price"].count(),
            }
        )
        bars = bars[bars["trade_count"] > 0]
        # A bar is closed once a later trade of the same symbol exists: all but the last.
        bars = bars.iloc[:-1]
        bars["symbol"] = symbol
        out.append(bars)
    result = pd.concat(out).reset_index(names="start")
    result["vwap"] = np.where(
        result["volume"] > 0,
        result["pv"] / result["volume"].where(result["volume"] > 0, 1.0),
        result["price_sum"] / result["trade_count"],
    )
    result["interval"] = "1d"
    return result[BAR_KEY + BAR_VALUES].sort_values(BAR_KEY).reset_index(drop=True)


async def db_bars(dsn: str, closed_only: bool = True) -> pd.DataFrame:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "market_data"})
    try:
        rows = await conn.fetch(
            f"""SELECT symbol, interval, start, open, high, low, close, volume,
                       CASE WHEN volume > 0 THEN vwap_numerator / volume
                            ELSE price_sum / trade_count END AS vwap,
                       trade_count, revision, closed
                FROM bars {"WHERE closed" if closed_only else ""} ORDER BY symbol, interval, start"""
        )
    finally:
        await conn.close()
    frame = pd.DataFrame([dict(r) for r in rows])
    if not frame.empty:
        frame["start"] = pd.to_datetime(frame["start"], utc=True)
    return frame


def bar_events(records: Sequence[Any]) -> pd.DataFrame:
    rows = []
    for r in records:
        data = json.loads(r.value)
        p = data["payload"]
        rows.append(
            {
                **{k: p[k] for k in ("symbol", "interval", "start", *BAR_VALUES)},
                "revision": p["revision"],
                "event_id": data["event_id"],
            }
        )
    frame = pd.DataFrame(rows)
    frame["start"] = pd.to_datetime(frame["start"], utc=True)
    return frame.sort_values([*BAR_KEY, "revision"]).reset_index(drop=True)


async def table_snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every domain table of market_data, in a canonical order, for run-to-run equality."""
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "market_data"})
    try:
        return {
            "ticks": [
                tuple(r)
                for r in await conn.fetch(
                    "SELECT tick_id, symbol, ts, price, size, trade_id FROM ticks ORDER BY tick_id"
                )
            ],
            "bars": [
                tuple(r)
                for r in await conn.fetch("SELECT * FROM bars ORDER BY symbol, interval, start")
            ],
            "late_ticks": [
                tuple(r)
                for r in await conn.fetch("SELECT * FROM late_ticks ORDER BY tick_id, interval")
            ],
            "watermarks": [
                tuple(r) for r in await conn.fetch("SELECT * FROM watermarks ORDER BY symbol")
            ],
        }
    finally:
        await conn.close()
