"""Bar state: the mutable bar the aggregator updates, its row form, the change set, and one
symbol's live bars per lane (interval), which the loop (bars.py) and the vectorised path
(bars_in_order.py) both update.

A bar's row holds everything needed to continue it after a restart: the VWAP numerator
(sum of price * size), the sum of prices (VWAP of a bar whose trades carry no size), and
the timestamps of the opening and closing trades, so out-of-order trades keep open/close
right. The service upserts rows in the same transaction as its offsets and restores the
aggregator from them (`BarAggregator.restore`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, NamedTuple, cast

from services.market_data.domain.validation import AcceptedTick, from_epoch_us
from shared.events import Bar, bar_id

NEVER = 1 << 62  # an epoch-microsecond time later than any trade
BEFORE_ALL = -NEVER
Interval = Literal["1m", "1h", "1d"]


def earliest_end(per_interval: list[dict[int, MutableBar]]) -> int:
    """The earliest end among the bars of one symbol's intervals (NEVER when there are none)."""
    return min((bar.end for bars in per_interval for bar in bars.values()), default=NEVER)


class BarRow(NamedTuple):
    """One bar as stored: its OHLCV plus the accumulators and the publication state."""

    bar_id: uuid.UUID
    symbol: str
    interval: str
    start_us: int
    end_us: int
    open: float
    high: float
    low: float
    close: float
    open_ts_us: int
    close_ts_us: int
    volume: float
    vwap_numerator: float  # sum of price * size
    price_sum: float  # sum of prices, for the VWAP of a bar with zero volume
    trade_count: int
    revision: int  # revision of the last published version; meaningless while open
    closed: bool  # published at least once

    @property
    def start(self) -> datetime:
        return from_epoch_us(self.start_us)

    @property
    def end(self) -> datetime:
        return from_epoch_us(self.end_us)

    @property
    def vwap(self) -> float:
        if self.volume > 0.0:
            return self.vwap_numerator / self.volume
        return self.price_sum / self.trade_count


class MutableBar:
    """The aggregator's working copy of one bar (slots: it is updated once per trade)."""

    __slots__ = (
        "close",
        "close_ts",
        "closed",
        "count",
        "end",
        "high",
        "ident",
        "interval",
        "low",
        "open",
        "open_ts",
        "price_sum",
        "pv",
        "revision",
        "start",
        "symbol",
        "volume",
    )

    def __init__(self, symbol: str, interval: str, start: int, end: int, tick: AcceptedTick):
        price, ts = tick.price, tick.ts_us
        self.symbol = symbol
        self.interval = interval
        self.start = start
        self.end = end
        self.open = self.high = self.low = self.close = price
        self.open_ts = self.close_ts = ts
        self.volume = tick.size
        self.pv = price * tick.size
        self.price_sum = price
        self.count = 1
        self.revision = 0
        self.closed = False
        self.ident: uuid.UUID | None = None

    @property
    def bar_id(self) -> uuid.UUID:
        if self.ident is None:  # a uuid5 is not free: derive it once per bar
            self.ident = bar_id(self.symbol, self.interval, from_epoch_us(self.start))
        return self.ident

    def add(self, price: float, size: float, ts: int) -> None:
        # Ties in time go to arrival order: the first arrival opens, the last one closes.
        if ts < self.open_ts:
            self.open, self.open_ts = price, ts
        if ts >= self.close_ts:
            self.close, self.close_ts = price, ts
        if price > self.high:
            self.high = price
        elif price < self.low:
            self.low = price
        self.volume += size
        self.pv += price * size
        self.price_sum += price
        self.count += 1

    def to_row(self) -> BarRow:
        return BarRow(
            self.bar_id,
            self.symbol,
            self.interval,
            self.start,
            self.end,
            self.open,
            self.high,
            self.low,
            self.close,
            self.open_ts,
            self.close_ts,
            self.volume,
            self.pv,
            self.price_sum,
            self.count,
            self.revision,
            self.closed,
        )

    @classmethod
    def from_row(cls, row: BarRow) -> MutableBar:
        bar = cls.__new__(cls)
        bar.symbol, bar.interval, bar.start, bar.end = (
            row.symbol,
            row.interval,
            row.start_us,
            row.end_us,
        )
        bar.open, bar.high, bar.low, bar.close = row.open, row.high, row.low, row.close
        bar.open_ts, bar.close_ts = row.open_ts_us, row.close_ts_us
        bar.volume, bar.pv, bar.price_sum = row.volume, row.vwap_numerator, row.price_sum
        bar.count, bar.revision, bar.closed = row.trade_count, row.revision, row.closed
        bar.ident = row.bar_id
        return bar

    def to_event(self) -> Bar:
        """The Bar payload as published now (its `event_id()` includes the revision)."""
        vwap = self.pv / self.volume if self.volume > 0.0 else self.price_sum / self.count
        # Built from checked numbers (prices validated, counts >= 1): skip re-validation.
        return Bar.model_construct(
            bar_id=self.bar_id,
            symbol=self.symbol,
            interval=cast(Interval, self.interval),
            start=from_epoch_us(self.start),
            end=from_epoch_us(self.end),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            vwap=vwap,
            trade_count=self.count,
            revision=self.revision,
        )


class LateTick(NamedTuple):
    """A trade older than the grace period of one interval: stored and counted, not in bars."""

    tick: AcceptedTick
    interval: str
    lateness_us: int  # symbol watermark minus the trade's time


@dataclass
class BarChanges:
    """What one `apply` (or `close_due`) changed.

    upserts: final state of every bar touched, for the bars table (open and closed).
    publish: every Bar version to publish, in order (a closed bar, then each revision).
    late: trades beyond grace, per interval they missed.
    watermarks: symbol -> new watermark (epoch us) for the symbols whose watermark moved.
    """

    upserts: list[BarRow] = field(default_factory=list)
    publish: list[Bar] = field(default_factory=list)
    late: list[LateTick] = field(default_factory=list)
    watermarks: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Lanes:
    """The aggregator's intervals in order, one lane each: name, width and grace (epoch us)."""

    names: tuple[str, ...]
    widths: tuple[int, ...]
    graces: tuple[int, ...]

    def new_symbol(self) -> SymbolBars:
        return SymbolBars(self.names, self.widths, self.graces)


class SymbolBars:
    """One symbol's watermark and live bars, per interval index, keyed by start."""

    __slots__ = ("closed", "lanes", "next_close", "next_evict", "open", "watermark")

    def __init__(self, names: tuple[str, ...], widths: tuple[int, ...], graces: tuple[int, ...]):
        self.watermark = BEFORE_ALL
        self.open: list[dict[int, MutableBar]] = [{} for _ in names]
        self.closed: list[dict[int, MutableBar]] = [{} for _ in names]
        # Everything the per-trade loop needs for one interval, in one tuple.
        self.lanes = tuple(zip(names, widths, graces, self.open, self.closed, strict=True))
        self.next_close = NEVER  # earliest end among open bars
        self.next_evict = NEVER  # earliest end + grace among closed bars

    def close_one(
        self,
        i: int,
        start: int,
        grace: int,
        touched: dict[MutableBar, None],
        publish: list[Bar],
    ) -> None:
        """Close the open bar of interval i starting at start: published with revision 0 and
        kept among the closed bars until no trade can revise it (end + grace)."""
        bar = self.open[i].pop(start)
        bar.closed = True
        bar.revision = 0
        self.closed[i][start] = bar
        self.next_evict = min(self.next_evict, bar.end + grace)
        publish.append(bar.to_event())
        touched[bar] = None

    def evict(self) -> None:
        """Forget the closed bars the watermark has passed by their grace (rows stay stored)."""
        watermark = self.watermark
        next_evict = NEVER
        for _, _, grace, _, closed in self.lanes:
            for start in [s for s, bar in closed.items() if bar.end + grace <= watermark]:
                del closed[start]
            for bar in closed.values():
                next_evict = min(next_evict, bar.end + grace)
        self.next_evict = next_evict
