"""market_data decode+validate: µs per tick for decode_ticks, with json.loads and the
contract's full pydantic decoder measured in the same run as baselines. Last line: JSON."""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from services.market_data.domain import decode_ticks
from services.market_data.feeds.encoding import tick_event_bytes
from services.market_data.feeds.replay import FeedTick
from shared.clock import ManualClock
from shared.events import decode

N = 20_000
T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)


def _us_per(fn: object, raws: list[bytes], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(raws)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return best / len(raws) * 1e6


def main() -> None:
    rng = random.Random(1)
    raws = [
        tick_event_bytes(
            FeedTick(
                f"S{i % 500}",
                T0 + timedelta(milliseconds=i),
                rng.uniform(10, 500),
                float(rng.randint(1, 900)),
                f"x:{i}",
                "bench",
            ),
            producer="bench",
            produced_at=T0,
        )
        for i in range(N)
    ]
    clock = ManualClock(T0 + timedelta(days=1))
    result = {
        "ticks": N,
        "record_bytes": sum(map(len, raws)) // N,
        "json_loads_us_per_tick": _us_per(lambda rs: [json.loads(r) for r in rs], raws),
        "contract_decode_us_per_tick": _us_per(lambda rs: [decode(r) for r in rs[:5000]], raws) * 4,
        "decode_ticks_us_per_tick": _us_per(lambda rs: decode_ticks(rs, clock), raws),
    }
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}))


if __name__ == "__main__":
    main()
