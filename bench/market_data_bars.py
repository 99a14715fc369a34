"""market_data bar aggregation: ticks/s of BarAggregator.apply (1m, 1h, 1d) on intraday
trades in batches of 5000 (in time order per symbol: the vectorised path), of its per-trade
loop `apply_each` on the same batches, and of a baseline loop that only keeps one running
sum per symbol and interval (the floor of any per-trade Python loop). Last line: JSON."""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from services.market_data.domain import AcceptedTick, BarAggregator, epoch_us
from shared.events import derive_id

N = 200_000
BATCH = 5000
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
WIDTHS = (60_000_000, 3_600_000_000, 86_400_000_000)


def _trades() -> list[AcceptedTick]:
    rng = random.Random(2)
    out = []
    for i in range(N):  # 200 symbols, 10 min, some out of order
        ts = T0 + timedelta(microseconds=i * 3000 + rng.randint(0, 20_000))
        symbol = f"S{i % 200}"
        out.append(
            AcceptedTick(
                derive_id("b", i), symbol, epoch_us(ts), rng.uniform(10, 11), 1.0, None, "b"
            )
        )
    return out


def _baseline(ticks: list[AcceptedTick]) -> None:
    sums: dict[tuple[str, int, int], float] = {}
    for t in ticks:
        for w in WIDTHS:
            key = (t.symbol, w, t.ts_us - t.ts_us % w)
            sums[key] = sums.get(key, 0.0) + t.price * t.size


def main() -> None:
    ticks = _trades()
    start = time.perf_counter()
    _baseline(ticks)
    baseline = N / (time.perf_counter() - start)
    rates, published = [], []
    for apply in (BarAggregator.apply, BarAggregator.apply_each):
        agg, bars = BarAggregator(), 0
        start = time.perf_counter()
        for lo in range(0, N, BATCH):
            bars += len(apply(agg, ticks[lo : lo + BATCH]).publish)
        rates.append(N / (time.perf_counter() - start))
        published.append(bars)
    assert published[0] == published[1], published
    print(
        json.dumps(
            {
                "ticks": N,
                "intervals": 3,
                "bars_published": published[0],
                "baseline_ticks_per_s": round(baseline),
                "aggregator_ticks_per_s": round(rates[0]),
                "loop_ticks_per_s": round(rates[1]),
            }
        )
    )


if __name__ == "__main__":
    main()
