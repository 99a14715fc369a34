"""TITAN_* settings of the market_data service (batch size, bars, tick limits, decode worker)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator

from services.market_data.domain.bars import BarConfig
from services.market_data.domain.validation import TickLimits
from shared.events.market import INTERVAL_SECONDS
from shared.settings import ServiceSettings


class MarketDataSettings(ServiceSettings):
    # Ticks are small and come in floods: 10k per batch (a few MB) makes the per-batch costs
    # (transaction, commit flush, offsets, outbox, bar upserts) small per tick. 20k was no
    # faster once fetch, decode and the server's COPY overlap (bench/ingest.py: 186-189k vs
    # 194-197k ticks/s), and it held ~55 MB more (two batches are alive at once).
    batch_max_records: int = Field(default=10_000, ge=1, le=100_000)
    bar_intervals: str = "1m,1h,1d"
    # 5 min covers the reordering of a live feed; larger grace keeps more bars revisable.
    bar_grace_seconds: float = Field(default=300.0, ge=0.0)
    max_price: float = Field(default=1e7, gt=0.0)
    max_future_seconds: float = Field(default=300.0, ge=0.0)
    close_bars_on_clock: bool = False
    # Decode ticks in a worker process, on another core, while the event loop stores the
    # previous batch (decode_worker.py). Off: everything in one process (one core).
    decode_worker: bool = True

    @field_validator("bar_intervals")
    @classmethod
    def _intervals(cls, value: str) -> str:
        names = [v.strip() for v in value.split(",") if v.strip()]
        bad = [n for n in names if n not in INTERVAL_SECONDS]
        if not names or bad:
            raise ValueError(f"bar intervals must be among {list(INTERVAL_SECONDS)}, got {value!r}")
        return ",".join(names)

    def bar_config(self) -> BarConfig:
        intervals = tuple(self.bar_intervals.split(","))
        grace = timedelta(seconds=self.bar_grace_seconds)
        return BarConfig(intervals, {i: grace for i in intervals}, self.close_bars_on_clock)

    def tick_limits(self) -> TickLimits:
        return TickLimits(
            max_price=self.max_price, max_future=timedelta(seconds=self.max_future_seconds)
        )
