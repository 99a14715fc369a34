"""Replay a daily price file as trades: one tick per (date, symbol) at the day's close time.

Layouts:
- wide: a date column then one price column per symbol (sp500_20stocks_daily_..., the crude
  file whose first byte is a UTF-8 BOM); size is 0 (the file has no volumes);
- long: Ticker, Date, Open, High, Low, Close, Volume, Adj Close (quandl_wiki_...); the price
  column is selectable (default 'Adj Close') and size is Volume.

Symbols are upper-cased (the crude file's "Brent" becomes BRENT, as the Tick model wants).
Ticks are sorted by time then symbol; empty (NaN) cells are not trades and are skipped.
trade_id is "replay:<file stem>:<row>:<symbol>", so a replay is deterministic and its tick
ids repeat across runs (the service drops the repeats).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

Layout = Literal["auto", "wide", "long"]
MalformedKind = Literal["nan_price", "negative_size", "bad_symbol", "far_future_ts", "zero_price"]
MALFORMED_KINDS: tuple[MalformedKind, ...] = (
    "nan_price",
    "negative_size",
    "bad_symbol",
    "far_future_ts",
    "zero_price",
)
LONG_COLUMNS = ("Ticker", "Date")
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_CLOSE_TIME = time(21, 0)


class ReplayError(ValueError):
    """A file or option the replay cannot use; the message says which and why."""


class FeedTick(NamedTuple):
    """A trade as a feed sends it; unlike `Tick` it may be malformed on purpose."""

    symbol: str
    ts: datetime
    price: float
    size: float
    trade_id: str
    source: str


@dataclass(frozen=True)
class MalformedTick:
    index: int  # position in the replay's tick list
    trade_id: str
    kind: MalformedKind


def file_stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".csv"):
        name = name.removesuffix(suffix)
    return name


def read_prices(
    path: Path,
    layout: Layout = "auto",
    price_column: str = "Adj Close",
    symbols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Long frame [row, date, symbol, price, size] of the file, NaN prices dropped."""
    if not path.is_file():
        raise ReplayError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: not a readable CSV file: {exc}") from exc
    detected: Layout = "long" if all(c in frame.columns for c in LONG_COLUMNS) else "wide"
    if layout == "auto":
        layout = detected
    elif layout != detected:
        raise ReplayError(f"{path}: --layout {layout} given but the columns look {detected}")
    long = _long_rows(frame, path, price_column) if layout == "long" else _wide_rows(frame, path)
    if symbols:
        wanted = {s.upper() for s in symbols}
        unknown = sorted(wanted - set(long["symbol"].unique()))
        if unknown:
            raise ReplayError(f"{path}: no column/ticker for symbol(s) {', '.join(unknown)}")
        long = long[long["symbol"].isin(sorted(wanted))]
    return long.dropna(subset=["price"]).reset_index(drop=True)


def _parse_dates(values: pd.Series, path: Path, column: str) -> pd.Series:
    try:
        return pd.to_datetime(values, format="ISO8601", utc=True)
    except (ValueError, TypeError) as exc:
        raise ReplayError(f"{path}: column {column!r} is not dates: {exc}") from exc


def _wide_rows(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    if frame.shape[1] < 2:
        raise ReplayError(f"{path}: a wide file needs a date column and a price column")
    date_col = str(frame.columns[0])
    dates = _parse_dates(frame[date_col], path, date_col)
    prices = frame.drop(columns=[date_col])
    non_numeric = [str(c) for c in prices.columns if not pd.api.types.is_numeric_dtype(prices[c])]
    if non_numeric:
        raise ReplayError(f"{path}: non-numeric price column(s) {', '.join(non_numeric)}")
    n_rows, n_syms = prices.shape
    return pd.DataFrame(
        {
            "row": np.repeat(np.arange(n_rows), n_syms),
            "date": np.repeat(dates.to_numpy(), n_syms),
            "symbol": np.tile(np.array([str(c).upper() for c in prices.columns]), n_rows),
            "price": prices.to_numpy(dtype=float).ravel(),
            "size": 0.0,
        }
    )


def _long_rows(frame: pd.DataFrame, path: Path, price_column: str) -> pd.DataFrame:
    if price_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise ReplayError(f"{path}: no price column {price_column!r} (columns: {columns})")
    if not pd.api.types.is_numeric_dtype(frame[price_column]):
        raise ReplayError(f"{path}: price column {price_column!r} is not numeric")
    size = frame["Volume"].astype(float) if "Volume" in frame.columns else 0.0
    return pd.DataFrame(
        {
            "row": np.arange(len(frame)),
            "date": _parse_dates(frame["Date"], path, "Date"),
            "symbol": frame["Ticker"].astype(str).str.upper(),
            "price": frame[price_column].astype(float),
            "size": size,
        }
    )


def replay_ticks(
    path: Path,
    *,
    layout: Layout = "auto",
    price_column: str = "Adj Close",
    symbols: Sequence[str] | None = None,
    close_time: time = DEFAULT_CLOSE_TIME,
) -> list[FeedTick]:
    """The file's trades, sorted by time then symbol."""
    rows = read_prices(path, layout, price_column, symbols)
    offset = pd.Timedelta(hours=close_time.hour, minutes=close_time.minute)
    rows["ts"] = rows["date"].dt.normalize() + offset
    rows = rows.sort_values(["ts", "symbol"], kind="mergesort")
    rows["ts_ns"] = (rows["ts"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns")
    stem = file_stem(path)
    source = f"replay:{stem}"
    return [
        FeedTick(sym, ts.to_pydatetime(), float(p), float(q), f"{source}:{row}:{sym}", source)
        for row, sym, ts, p, q in zip(
            rows["row"], rows["symbol"], rows["ts"], rows["price"], rows["size"], strict=True
        )
    ]


def inject_malformed(
    ticks: list[FeedTick], rate: float, seed: int
) -> tuple[list[FeedTick], list[MalformedTick]]:
    """Replace a `rate` share of ticks (chosen with `seed`) by broken ones, kept in place.

    The broken ticks are still sent, so they reach the dead-letter topic; the returned list
    says which ones and how they are broken.
    """
    if not (0.0 <= rate <= 1.0) or math.isnan(rate):
        raise ReplayError(f"malformed rate must be within [0, 1], got {rate!r}")
    rng = random.Random(seed)
    out = list(ticks)
    report: list[MalformedTick] = []
    for index, tick in enumerate(ticks):
        if rng.random() >= rate:
            continue
        kind = rng.choice(MALFORMED_KINDS)
        out[index] = _break(tick, kind)
        report.append(MalformedTick(index, tick.trade_id, kind))
    return out, report


def _break(tick: FeedTick, kind: MalformedKind) -> FeedTick:
    if kind == "nan_price":
        return tick._replace(price=math.nan)
    if kind == "negative_size":
        return tick._replace(size=-abs(tick.size) - 1.0)
    if kind == "bad_symbol":
        return tick._replace(symbol=f"bad {tick.symbol.lower()}!")
    if kind == "zero_price":
        return tick._replace(price=0.0)
    return tick._replace(ts=FAR_FUTURE + timedelta(seconds=1))


def parse_close_time(text: str) -> time:
    try:
        hour, minute = (int(part) for part in text.split(":"))
        return time(hour, minute)
    except ValueError:
        raise ReplayError(f"close time must be HH:MM (UTC), got {text!r}") from None


def replay_watermark(ticks: Sequence[FeedTick]) -> Callable[[int, object], int | None]:
    """The replay's event-time progress once `sent` ticks are out: just before the earliest
    tick still to send (a broken far-future time does not count), in epoch microseconds.
    Every tick of the file is then at or after the watermark sent before it (rule 7)."""
    times = np.array(
        [
            (t.ts - EPOCH) // timedelta(microseconds=1) if t.ts < FAR_FUTURE else 2**62
            for t in ticks
        ],
        dtype=np.int64,
    )
    suffix_min = np.minimum.accumulate(times[::-1])[::-1] if len(times) else times

    def watermark(sent: int, _batch: object) -> int | None:
        if sent >= len(suffix_min):
            return None  # the end of input is sent by the producer itself
        earliest = int(suffix_min[sent])
        return None if earliest >= 2**62 else earliest - 1

    return watermark
