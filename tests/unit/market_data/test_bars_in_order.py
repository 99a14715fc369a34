"""The vectorised in-order path of the bar aggregator against its loop (`apply_each`).

Both aggregators see the same batches; every publication, upserted row, watermark and the
final in-memory state must be identical, floats compared by their bits.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from services.market_data.domain import AcceptedTick, BarAggregator, BarConfig
from services.market_data.domain.bar_state import BarChanges
from services.market_data.domain.bars_in_order import MIN_VECTOR_TRADES

from .ticks_factory import accepted

CONFIG = BarConfig(("1m", "1h", "1d"), grace={"1m": timedelta(0), "1h": timedelta(minutes=2)})


def bits(value: Any) -> Any:
    """Floats by their exact bits (so -0.0 differs from 0.0), recursively."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [bits(v) for v in value]
    return value


def outcome(changes: BarChanges) -> Any:
    return bits(
        {
            "publish": [b.model_dump() for b in changes.publish],
            "upserts": sorted(changes.upserts, key=lambda r: (r.symbol, r.interval, r.start_us)),
            "late": list(changes.late),
            "watermarks": changes.watermarks,
        }
    )


def state(agg: BarAggregator) -> Any:
    marks, rows = agg.snapshot()
    nexts = {s: (b.next_close, b.next_evict) for s, b in agg._symbols.items()}
    return bits([marks, sorted(rows, key=lambda r: (r.symbol, r.interval, r.start_us)), nexts])


def in_order_stream(rng: random.Random, n: int, symbols: int) -> list[AcceptedTick]:
    """Trades in time order per symbol (ties included), interleaved across symbols, over a
    few days so 1m, 1h and 1d bars all close; sizes include zeros of both signs."""
    clocks = [rng.uniform(0, 600) for _ in range(symbols)]
    out = []
    for i in range(n):
        s = rng.randrange(symbols)
        if rng.random() > 0.05:  # else: the same time as the symbol's previous trade
            clocks[s] += rng.expovariate(1 / 40.0) * (300 if rng.random() < 0.01 else 1)
        size = rng.choice([0.0, -0.0, 1.0, 100.0, rng.uniform(0, 500)])
        price = round(rng.uniform(10, 20), rng.choice([2, 4, 7]))
        out.append(accepted(f"S{s:02d}", clocks[s], price, size, n=i))
    return out


def batches(rng: random.Random, ticks: list[AcceptedTick]) -> list[list[AcceptedTick]]:
    out, i = [], 0
    while i < len(ticks):
        size = rng.choice([MIN_VECTOR_TRADES, 700, 3000, 17])
        out.append(ticks[i : i + size])
        i += size
    return out


def test_in_order_batches_give_the_loops_bars_to_the_bit() -> None:
    rng = random.Random(7)
    fast, loop = BarAggregator(CONFIG), BarAggregator(CONFIG)
    vectorised = 0
    for batch in batches(rng, in_order_stream(rng, 30_000, 12)):
        expected = outcome(loop.apply_each(batch))
        changes = fast.apply_in_order(batch)
        if changes is None:
            assert len(batch) < MIN_VECTOR_TRADES
            changes = fast.apply_each(batch)
        else:
            vectorised += 1
        assert outcome(changes) == expected
        assert state(fast) == state(loop)
    assert vectorised >= 10


def test_after_a_restore_the_vector_path_continues_the_stored_bars() -> None:
    rng = random.Random(8)
    ticks = in_order_stream(rng, 12_000, 5)
    loop = BarAggregator(CONFIG)
    loop.apply_each(ticks[:5000])
    marks, rows = loop.snapshot()
    restored = BarAggregator.restore(CONFIG, marks, rows)
    expected = outcome(loop.apply_each(ticks[5000:]))
    changes = restored.apply_in_order(ticks[5000:])
    assert changes is not None
    assert outcome(changes) == expected
    assert state(restored) == state(loop)


def test_a_batch_going_back_in_time_is_left_to_the_loop_untouched() -> None:
    rng = random.Random(9)
    ticks = in_order_stream(rng, 4000, 4)
    agg = BarAggregator(CONFIG)
    agg.apply(ticks[:2000])
    before = state(agg)
    late = accepted(ticks[0].symbol, 0.0, 15.0, n=99_999)  # older than its watermark
    assert agg.apply_in_order([*ticks[2000:3000], late]) is None
    swapped = ticks[2000:3000]
    swapped = [*swapped[:10], *reversed(swapped[10:400]), *swapped[400:]]
    assert agg.apply_in_order(swapped) is None
    assert state(agg) == before
    # Through `apply` both still give the loop's answer.
    loop = BarAggregator(CONFIG)
    loop.apply_each(ticks[:2000])
    assert outcome(agg.apply(swapped)) == outcome(loop.apply_each(swapped))
