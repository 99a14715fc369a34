"""The pairs service's decision step after a screen: records for every pair (the baseline, as
before ScreenTable) vs records only for passing and tracked pairs, in the same run.

The screen itself (the engine) is computed once per universe and is not timed: what is timed is
``Pipeline.screen`` from the merged arrays on, i.e. what the service runs inside its step's
transaction (record building, the per-pair lifecycle loop, tests, events). Synthetic universes
of 252 bars, geometric random walks in which one symbol in TIE_EVERY is tied to its neighbour
by a stationary spread (so some pairs pass and go through the lifecycle; a newly active pair
also warms up its Kalman hedge over the window, the same work on both paths). CPU seconds are
the best of ROUNDS; peak allocation (tracemalloc) is from one extra run of each path. Last
line: one JSON object.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import copy  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._universes import synthetic_prices  # noqa: E402
from core.cointegration import PairScreenResult, ScreenTable, screen_arrays  # noqa: E402
from core.cointegration.screen import screen_records  # noqa: E402
from services.pairs.domain.pipeline import Effects, Pipeline, PipelineConfig  # noqa: E402
from services.pairs.domain.screening import ScreenSettings  # noqa: E402
from services.pairs.domain.universe import BarClose, UniverseConfig  # noqa: E402

SIZES = (200, 500, 1000)
BARS = 252
ROUNDS = 3
TIE_EVERY = 50


T0 = datetime(2020, 1, 1, tzinfo=UTC)


def loaded_pipeline(n_symbols: int) -> tuple[Pipeline, datetime, list[str], Any]:
    """A pipeline holding a full window of the universe, and the screen's merged arrays."""
    prices = synthetic_prices(BARS, n_symbols, seed=n_symbols, tie_every=TIE_EVERY)
    symbols = [f"S{k:04d}" for k in range(n_symbols)]
    times = [T0 + timedelta(days=i) for i in range(BARS)]
    config = PipelineConfig(
        universe=UniverseConfig(keep_rows=BARS + 10),
        screen=ScreenSettings(window=BARS, every=10**6),  # no scheduled screen while loading
    )
    pipeline = Pipeline(config)
    bars = [BarClose(s, t, float(prices[i, k]), 0)
            for i, t in enumerate(times) for k, s in enumerate(symbols)]  # fmt: skip
    pipeline.on_released(bars, Effects())
    return pipeline, times[-1], symbols, screen_arrays(prices)


def run_step(
    pipeline: Pipeline, as_of: datetime, screen: Callable[..., Any]
) -> tuple[Effects, float]:
    """One screen on a fresh copy of the loaded pipeline: its effects and its CPU seconds
    (the copy is made before the clock starts)."""
    pipe = copy.deepcopy(pipeline)
    pipe.screen_fn = screen
    fx = Effects()
    started = time.process_time()
    pipe.screen(as_of, uuid.UUID(int=1), fx)
    return fx, time.process_time() - started


def measure(n_symbols: int) -> dict[str, Any]:
    pipeline, as_of, symbols, arrays = loaded_pipeline(n_symbols)

    def every_record(*_args: object) -> Sequence[PairScreenResult]:
        return screen_records(arrays, symbols)

    def table(*_args: object) -> Sequence[PairScreenResult]:
        return ScreenTable(arrays, symbols)

    out: dict[str, Any] = {"pairs": len(arrays.pvalue)}
    effects = {}
    for name, screen in (("every_record", every_record), ("table", table)):
        best = float("inf")
        for _ in range(ROUNDS):
            fx, cpu = run_step(pipeline, as_of, screen)
            best = min(best, cpu)
        effects[name] = fx
        tracemalloc.start()
        run_step(pipeline, as_of, screen)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out[name] = {"cpu_s": round(best, 4), "peak_alloc_mb": round(peak / 2**20, 1)}
    out["stepped_pairs"] = len(effects["table"].tests)
    # Each activation warms a Kalman hedge over the window (~4.5 ms): the same on both paths.
    out["activations"] = sum(
        1 for e in effects["table"].events
        if e.topic == "pairs.lifecycle.v1" and e.payload.to_state == "active"
    )  # fmt: skip
    out["identical"] = all(
        getattr(effects["table"], f) == getattr(effects["every_record"], f)
        for f in ("events", "tests", "pairs", "trackers", "spreads", "screens")
    )
    out["speedup"] = round(out["every_record"]["cpu_s"] / max(out["table"]["cpu_s"], 1e-9), 1)
    out["us_per_pair"] = {
        k: round(out[k]["cpu_s"] / out["pairs"] * 1e6, 3) for k in ("every_record", "table")
    }
    return out


def main() -> None:
    curves = {str(n): measure(n) for n in SIZES}
    for n, point in curves.items():
        print(f"{n} symbols: {point}", file=sys.stderr)
    print(json.dumps({"bars": BARS, "curves": curves,
                      "speedups": {n: p["speedup"] for n, p in curves.items()},
                      "identical": all(p["identical"] for p in curves.values())}))  # fmt: skip


if __name__ == "__main__":
    main()
