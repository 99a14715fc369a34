"""The console's pair charts on 20 symbols x 33 years: downsampled against sent whole.

    python bench/console_views.py [--max-points N]

Inputs: the bundled S&P file (20 stocks, 1990-2022, ~8,300 daily closes each); for every one
of the 190 pairs, the legs' closes as the pair page gets them (column lists with ISO times).
Timed, in the same run:
- console: `views.downsample_columns` (vectorised min-max) + `views.line_points`, what the
  pair page is sent;
- baseline: `views.line_points` of every bar (no downsampling), and the min-max indices
  computed by the plain-Python oracle of tests/unit/console/test_views.py (the run fails
  unless the vectorised indices equal the oracle's on every series).
Prints one JSON object on its last line: per-pair milliseconds and JSON bytes of each, and
the ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.console import views
from services.market_data.data import bundled_file
from tests.unit.console.test_views import oracle_minmax


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-points", type=int, default=views.DEFAULT_MAX_POINTS)
    args = parser.parse_args()
    source = bundled_file("sp500_20stocks_daily_1990_2022.csv.gz")
    assert source is not None
    wide = pd.read_csv(source, dtype={"Date": str}).set_index("Date")
    times = [pd.Timestamp(d, tz="UTC").isoformat() for d in wide.index]
    pairs = list(combinations(wide.columns, 2))
    columns = {
        (a, b): {"bar_time": times, "price_a": wide[a].tolist(), "price_b": wide[b].tolist()}
        for a, b in pairs
    }

    started = time.perf_counter()
    sent = 0
    for cols in columns.values():
        kept = views.downsample_columns(cols, ("price_a", "price_b"), args.max_points)
        payload = [views.line_points(kept["bar_time"], kept[k]) for k in ("price_a", "price_b")]
        sent += len(json.dumps(payload))
    console_s = time.perf_counter() - started

    started = time.perf_counter()
    whole = 0
    for cols in columns.values():
        payload = [views.line_points(cols["bar_time"], cols[k]) for k in ("price_a", "price_b")]
        whole += len(json.dumps(payload))
    baseline_s = time.perf_counter() - started

    series = [np.asarray(wide[s], dtype=float) for s in wide.columns]
    started = time.perf_counter()
    fast = [views.minmax_indices(v, args.max_points).tolist() for v in series]
    minmax_s = time.perf_counter() - started
    started = time.perf_counter()
    oracle = [oracle_minmax(v.tolist(), args.max_points) for v in series]
    oracle_s = time.perf_counter() - started
    if fast != oracle:
        raise SystemExit("the vectorised min-max differs from the oracle")
    n = len(pairs)
    print(
        json.dumps(
            {
                "pairs": n,
                "bars": len(times),
                "max_points": args.max_points,
                "console_ms_per_pair": 1000 * console_s / n,
                "baseline_ms_per_pair": 1000 * baseline_s / n,
                "console_bytes_per_pair": sent // n,
                "baseline_bytes_per_pair": whole // n,
                "bytes_ratio": whole / sent,
                "minmax_ms_per_series": 1000 * minmax_s / len(series),
                "oracle_ms_per_series": 1000 * oracle_s / len(series),
                "minmax_speedup": oracle_s / minmax_s,
            }
        )
    )


if __name__ == "__main__":
    main()
