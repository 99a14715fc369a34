"""`titan.market_data`: symbols, bars (long), closes (wide), publishing ticks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import pandas as pd

from titan.client.errors import InvalidRequest
from titan.client.results import When, iso
from titan.client.transport import Transport

PAGE = 10_000  # the history API's largest page
TICK_COLUMNS = ("symbol", "ts", "price")


class MarketData:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def symbols(self) -> list[str]:
        data = await self._t.get_json("market_data", "/symbols")
        return [str(s) for s in data["symbols"]]

    async def bars(
        self,
        symbols: Sequence[str],
        interval: str = "1d",
        start: When | None = None,
        end: When | None = None,
    ) -> pd.DataFrame:
        """Closed bars in long form (one row per symbol and bar start), every page followed;
        `start` inclusive, `end` exclusive."""
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        params: dict[str, Any] = {
            "symbols": ",".join(wanted),
            "interval": interval,
            "start": iso("start", start),
            "end": iso("end", end),
            "limit": PAGE,
        }
        rows: list[dict[str, Any]] = []
        while True:
            page = await self._t.get_json("market_data", "/bars", params)
            rows.extend(page["bars"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        columns = ["symbol", "interval", "start", "end", "open", "high", "low", "close",
                   "volume", "vwap", "trade_count", "revision"]  # fmt: skip
        out = pd.DataFrame(rows, columns=columns)
        for col in ("start", "end"):
            out[col] = pd.to_datetime(out[col], utc=True, format="ISO8601")
        return out

    async def closes(
        self,
        symbols: Sequence[str],
        interval: str = "1d",
        start: When | None = None,
        end: When | None = None,
    ) -> pd.DataFrame:
        """Wide closes: index = bar start (UTC), one column per symbol in the order asked,
        NaN where a symbol has no bar."""
        wanted = [symbols] if isinstance(symbols, str) else list(symbols)
        long = await self.bars(wanted, interval, start, end)
        wide = long.pivot(index="start", columns="symbol", values="close").sort_index()
        wide = wide.reindex(columns=wanted).astype(float)
        wide.columns.name = None
        return wide

    async def publish_ticks(self, ticks: pd.DataFrame, *, end_of_input: bool = False) -> int:
        """Send trades to market.ticks.v1 (behind the resolved topic prefix); returns how many
        the broker acknowledged. Columns: symbol, ts, price, and optionally size, trade_id,
        source. The feed's watermark follows the ticks' times (contract rule 7)."""
        from services.market_data.feeds.kafka_producer import produce_ticks
        from services.market_data.feeds.replay import FeedTick, replay_watermark
        from shared.settings import KafkaSettings
        from shared.topics import MARKET_TICKS

        feed = _feed_ticks(ticks, FeedTick)
        kafka = KafkaSettings(bootstrap=self._t.addresses.bootstrap()).client_kwargs()

        async def one_batch() -> AsyncIterator[Sequence[Any]]:
            yield feed

        counts = await produce_ticks(
            one_batch(), kafka, topic=self._t.addresses.prefix() + MARKET_TICKS.name,
            producer_name="titan-client", watermark=replay_watermark(feed),
            end_of_input=end_of_input,
        )  # fmt: skip
        return int(counts.sent)


def _feed_ticks(ticks: pd.DataFrame, feed_tick: Any) -> list[Any]:
    missing = [c for c in TICK_COLUMNS if c not in ticks.columns]
    if missing:
        raise InvalidRequest(f"ticks need columns {list(TICK_COLUMNS)}; missing {missing}")
    if ticks.empty:
        raise InvalidRequest("no ticks to publish")
    ts = pd.to_datetime(ticks["ts"], utc=True)
    if ts.isna().any():
        raise InvalidRequest("ticks.ts has missing or unparseable times")
    prices = pd.to_numeric(ticks["price"], errors="coerce")
    if prices.isna().any() or (prices <= 0).any():
        raise InvalidRequest("ticks.price must be positive numbers")
    size = ticks["size"] if "size" in ticks.columns else pd.Series(0.0, index=ticks.index)
    source = (
        ticks["source"] if "source" in ticks.columns else pd.Series("client", index=ticks.index)
    )
    if "trade_id" in ticks.columns:
        trade_ids = ticks["trade_id"].astype(str)
    else:  # deterministic: the same frame published twice is the same trades (deduplicated)
        trade_ids = ticks["symbol"].astype(str) + "-" + ts.map(lambda t: t.isoformat())
    rows = zip(ticks["symbol"].astype(str), ts, prices, size, trade_ids, source, strict=True)
    out = [feed_tick(s, t.to_pydatetime(), float(p), float(z), str(i), str(src))
           for s, t, p, z, i, src in rows]  # fmt: skip
    out.sort(key=lambda t: (t.ts, t.symbol))
    return out
