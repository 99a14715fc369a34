"""The aggregator against an independent pandas group-by/resample of the same trades."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pandas as pd

from services.market_data.domain import AcceptedTick, BarAggregator, BarConfig, BarRow, epoch_us
from services.market_data.feeds.replay import replay_ticks
from shared.events import derive_id
from tests.data import data_file

from .ticks_factory import accepted

FREQ = {"1m": "1min", "1h": "1h", "1d": "1D"}


def pandas_bars(ticks: list[AcceptedTick], interval: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "symbol": [t.symbol for t in ticks],
            "ts": pd.to_datetime([t.ts_us for t in ticks], unit="us", utc=True),
            "price": [t.price for t in ticks],
            "size": [t.size for t in ticks],
        }
    )
    frame["pv"] = frame["price"] * frame["size"]
    # Event-time order; ties keep arrival order, so "first" opens and "last" closes.
    frame = frame.sort_values("ts", kind="mergesort")
    # dt.floor is resample's bin edge for these fixed-width intervals, without the empty
    # bins a Grouper(freq="1min") would create across 33 years of daily data.
    frame["start"] = frame["ts"].dt.floor(FREQ[interval])
    grouped = frame.groupby(["symbol", "start"])
    bars = grouped.agg(
        open=("price", "first"),
        high=("price", "max"),
        low=("price", "min"),
        close=("price", "last"),
        volume=("size", "sum"),
        pv=("pv", "sum"),
        mean_price=("price", "mean"),
        trade_count=("price", "count"),
    )
    bars.index = bars.index.set_names(["symbol", "ts"])
    bars["vwap"] = np.where(
        bars["volume"] > 0,
        bars["pv"] / bars["volume"].where(bars["volume"] > 0, 1),
        bars["mean_price"],
    )
    return bars[["open", "high", "low", "close", "volume", "vwap", "trade_count"]]


def aggregator_bars(rows: list[BarRow], interval: str) -> pd.DataFrame:
    mine = [r for r in rows if r.interval == interval]
    frame = pd.DataFrame(
        {
            "symbol": [r.symbol for r in mine],
            "ts": pd.to_datetime([r.start_us for r in mine], unit="us", utc=True),
            "open": [r.open for r in mine],
            "high": [r.high for r in mine],
            "low": [r.low for r in mine],
            "close": [r.close for r in mine],
            "volume": [r.volume for r in mine],
            "vwap": [r.vwap for r in mine],
            "trade_count": [r.trade_count for r in mine],
        }
    )
    return frame.set_index(["symbol", "ts"]).sort_index()


def _final_rows(
    config: BarConfig, ticks: list[AcceptedTick], batch: int
) -> tuple[list[BarRow], set[tuple[object, str]]]:
    agg = BarAggregator(config)
    table: dict[object, BarRow] = {}
    late: set[tuple[object, str]] = set()
    for lo in range(0, len(ticks), batch):
        changes = agg.apply(ticks[lo : lo + batch])
        table.update({r.bar_id: r for r in changes.upserts})
        late |= {(lt.tick.event_id, lt.interval) for lt in changes.late}
    return list(table.values()), late


def _compare(config: BarConfig, ticks: list[AcceptedTick], batch: int) -> set[tuple[object, str]]:
    rows, late = _final_rows(config, ticks, batch)
    for interval in config.intervals:
        kept = [t for t in ticks if (t.event_id, interval) not in late]
        expected = pandas_bars(kept, interval).sort_index()
        actual = aggregator_bars(rows, interval)
        pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-12, atol=0.0)
    return late


def test_daily_closes_of_twenty_stocks_match_pandas() -> None:
    feed = replay_ticks(data_file("sp500_20stocks_daily_1990_2022.csv.gz"))
    ticks = [
        AcceptedTick(
            derive_id("t", t.trade_id),
            t.symbol,
            epoch_us(t.ts),
            t.price,
            t.size,
            t.trade_id,
            t.source,
        )
        for t in feed
    ]
    # Every daily trade closes its bars, so 1m/1h would only repeat the 1d bars here.
    late = _compare(BarConfig(intervals=("1d",)), ticks, batch=5000)
    assert late == set() and len(ticks) == 166_260


def test_intraday_trades_with_out_of_order_and_late_arrivals_match_pandas() -> None:
    rng = random.Random(11)
    n = 20_000
    ticks = [
        accepted(
            rng.choice(["BTC", "ETH"]),
            i * 0.4 + rng.uniform(0, 0.3),
            round(rng.uniform(90, 110), 2),
            rng.randint(0, 5),
            i,
        )
        for i in range(n)
    ]
    # Arrival = event time + a network delay: mostly seconds, 2 % of trades 30 s to 4 min
    # late, so some revise closed bars and some miss the grace period.
    delays = [rng.uniform(0, 5) if rng.random() > 0.02 else rng.uniform(30, 240) for _ in ticks]
    ticks = [
        t for _, t in sorted(zip(delays, ticks, strict=True), key=lambda d: d[1].ts_us + d[0] * 1e6)
    ]
    config = BarConfig(grace={"1m": timedelta(minutes=1), "1h": timedelta(minutes=2)})
    late = _compare(config, ticks, batch=977)
    assert {interval for _, interval in late} == {"1m", "1h"}
    assert 0 < len(late) < n // 4
