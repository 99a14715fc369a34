"""Benchmark: the universe screen in one process vs sharded over two worker processes.

Random universes (geometric random walks, every fifth symbol tied to its neighbour by a
stationary spread, fixed seed) of 200, 500, 1,000 and 2,000 symbols x 252 bars, autolag AIC.
For each size two configurations, each measured in a fresh subprocess so peak RSS is per point:

- ``1p``: today's screen, in-process (the sharded screen with one block);
- ``2p``: two pair shards (``pair_shard``: a deterministic block of pair ids each) in a
  spawned ``ProcessPoolExecutor`` of two workers (BLAS pinned to one thread, as the pairs
  service's TITAN_PAIRS_SCREEN_WORKERS pool). The pool is started and warmed before the clock
  starts: a service keeps its pool.
- ``incremental``: ``RollingPairStats`` (fixed ADF lag 2) built on the first 252 bars, then
  slid bar by bar (10 bars; 4 from 1,000 symbols), each update followed by the evaluation of
  every pair; against a full fixed-lag refit of the last window (checked equal to 1e-9) and
  the full AIC rescreen (the service's screen; from 1,000 symbols the 1p point's).

Measured per point: wall seconds of the screen; CPU seconds (user + system) of the screen in
every process (the parent's, plus each worker's over its block, returned by the worker); peak
RSS (ru_maxrss) of the parent and of each worker. The points from 1,000 symbols run once, the
others take the median wall time of ``REPEATS`` runs. Each point checks the 2p screen against
the 1p one (bit-identical). The last line printed is one JSON object. On a shared box, read
CPU seconds, not wall seconds (each point records the 1-minute load average).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import Executor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._universes import synthetic_prices  # noqa: E402
from core.cointegration.blocks import (  # noqa: E402
    BlockInput,
    BlockStats,
    ScreenArrays,
    ScreenOptions,
    block_input,
    merge_blocks,
    n_pairs,
    pair_shard,
    screen_block,
)
from core.cointegration.rolling import RollingPairStats  # noqa: E402
from core.cointegration.screen import screen_arrays  # noqa: E402
from services.pairs.screen_pool import screen_process_pool  # noqa: E402

SIZES = (200, 500, 1000, 2000)
ROLLING_SIZES = SIZES
ROLLING_LAG = 2
ROLLING_BARS = 10
ROLLING_BARS_BIG = 4
BIG = 1000  # from here: one run per point, fewer bars slid (keeps the run near 5 CPU min)
ROLLING_KEYS = (
    "pairs",
    "lag",
    "build_cpu_s",
    "update_cpu_s",
    "update_wall_s",
    "full_fixed_lag_cpu_s",
    "max_abs_adf_diff_vs_refit",
    "peak_rss_mb",
)
ONE_KEYS = ("wall_s", "cpu_s", "parent_peak_rss_mb", "load_avg_1m")
TWO_KEYS = (
    "wall_s",
    "cpu_s",
    "critical_cpu_s",
    "worker_cpu_s",
    "parent_peak_rss_mb",
    "worker_peak_rss_mb",
    "load_avg_1m",
)
BARS = 252
REPEATS = 3
SEED = 3


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measured_block(inp: BlockInput, opts: ScreenOptions) -> tuple[BlockStats, float, float]:
    """A worker's block with the worker's own CPU seconds for it and its peak RSS so far."""
    start = cpu_s()
    stats = screen_block(inp, opts)
    return stats, cpu_s() - start, peak_rss_mb()


def run_screen(closes: np.ndarray, shards: int, pool: Executor | None) -> dict[str, Any]:
    opts = ScreenOptions()
    wall, cpu = time.perf_counter(), cpu_s()
    ids = np.arange(n_pairs(closes.shape[1]), dtype=np.int64)
    owned = [pair_shard(ids, s, shards) for s in range(shards)]
    inputs = [block_input(closes, int(o[0]), int(o[-1]) + 1) for o in owned]
    if pool is None:
        outs = [measured_block(inp, opts) for inp in inputs]
    else:
        futures = [pool.submit(measured_block, inp, opts) for inp in inputs]
        outs = [f.result() for f in futures]
    merged = merge_blocks([o[0] for o in outs])
    wall, parent_cpu = time.perf_counter() - wall, cpu_s() - cpu
    worker_cpu = [o[1] for o in outs] if pool is not None else []
    return {
        "wall_s": wall,
        "cpu_s": parent_cpu + sum(worker_cpu),
        # What the wall time would be on idle cores: the parent plus the slowest worker.
        "critical_cpu_s": parent_cpu + max(worker_cpu, default=0.0),
        "worker_cpu_s": worker_cpu,
        "worker_rss_mb": [o[2] for o in outs] if pool is not None else [],
        "merged": merged,
    }


def digest(res: ScreenArrays) -> str:
    parts = [res.adf_stat, res.pvalue, res.pvalue_adjusted, res.hurst, res.half_life]
    parts += [res.hedge_ratio, res.intercept, res.a_index.astype(np.float64)]
    return hashlib.sha256(np.stack(parts).tobytes()).hexdigest()


def point(n_symbols: int, processes: int) -> dict[str, Any]:
    """One configuration in this (fresh) process."""
    closes = synthetic_prices(BARS, n_symbols, SEED)
    pool = screen_process_pool(processes) if processes > 1 else None
    if pool is not None:
        list(pool.map(warm_worker, range(processes)))  # spawn and import before timing
    repeats = 1 if n_symbols >= BIG else REPEATS
    runs = [run_screen(closes, processes, pool) for _ in range(repeats)]
    if pool is not None:
        pool.shutdown(wait=True)
    best = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    merged: ScreenArrays = best["merged"]
    return {
        "symbols": n_symbols,
        "pairs": int(merged.a_index.size),
        "processes": processes,
        "wall_s": round(best["wall_s"], 3),
        "cpu_s": round(best["cpu_s"], 3),
        "critical_cpu_s": round(best["critical_cpu_s"], 3),
        "worker_cpu_s": [round(c, 3) for c in best["worker_cpu_s"]],
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "parent_peak_rss_mb": round(peak_rss_mb(), 1),
        "worker_peak_rss_mb": [round(r, 1) for r in best["worker_rss_mb"]],
        "digest": digest(merged),
        "repeats": repeats,
    }


def warm_worker(_: int) -> float:
    time.sleep(0.5)  # keeps each worker busy so that every worker gets spawned
    return peak_rss_mb()


def timed(fn: Any) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), cpu_s()
    out = fn()
    return time.perf_counter() - wall, cpu_s() - cpu, out


def rolling_point(n_symbols: int) -> dict[str, Any]:
    """Per-bar fixed-lag update of every pair vs a full rescreen of the same window."""
    n_bars = ROLLING_BARS if n_symbols < BIG else ROLLING_BARS_BIG
    closes = synthetic_prices(BARS + n_bars, n_symbols, SEED)
    build_wall, build_cpu, stats = timed(lambda: RollingPairStats(closes[:BARS], ROLLING_LAG))
    walls, cpus = [], []
    for t in range(BARS, BARS + n_bars):
        wall, cpu, result = timed(lambda t=t: (stats.update(closes[t]), stats.result())[1])
        walls.append(wall)
        cpus.append(cpu)
    last = closes[-BARS:]
    fixed = timed(lambda: screen_arrays(last, autolag=None, maxlag=ROLLING_LAG))
    # From 1,000 symbols the AIC rescreen is the 1p point's (same size and law, other draws):
    # measuring it again here would add a minute of CPU to the run.
    aic = timed(lambda: screen_arrays(last, autolag="aic")) if n_symbols < BIG else None
    err = float(np.max(np.abs(result.adf_stat - fixed[2].adf_stat)))
    return {
        "symbols": n_symbols,
        "pairs": int(result.adf_stat.size),
        "lag": ROLLING_LAG,
        "bars_slid": n_bars,
        "build_s": round(build_wall, 3),
        "build_cpu_s": round(build_cpu, 3),
        "update_wall_s": round(float(np.median(walls)), 4),
        "update_cpu_s": round(float(np.median(cpus)), 4),
        "full_fixed_lag_wall_s": round(fixed[0], 3),
        "full_fixed_lag_cpu_s": round(fixed[1], 3),
        "full_aic_wall_s": round(aic[0], 3) if aic is not None else None,
        "full_aic_cpu_s": round(aic[1], 3) if aic is not None else None,
        "max_abs_adf_diff_vs_refit": err,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def incremental_summary(r: dict[str, Any], one: dict[str, Any]) -> dict[str, Any]:
    """The per-bar update against a full rescreen (AIC: what the service runs; fixed lag:
    the same statistics refitted)."""
    aic_cpu = r["full_aic_cpu_s"] if r["full_aic_cpu_s"] is not None else one["cpu_s"]
    update = max(r["update_cpu_s"], 1e-4)
    return {
        **{k: r[k] for k in ROLLING_KEYS},
        "full_aic_cpu_s": aic_cpu,
        "full_aic_from": "this point" if r["full_aic_cpu_s"] is not None else "1p screen point",
        "speedup_vs_full_aic_cpu": round(aic_cpu / update, 1),
        "speedup_vs_full_fixed_lag_cpu": round(r["full_fixed_lag_cpu_s"] / update, 1),
    }


def run_point(n_symbols: int, processes: int) -> dict[str, Any]:
    mode = (
        ["--rolling", str(n_symbols)]
        if processes == 0
        else ["--point", str(n_symbols), str(processes)]
    )
    cmd = [sys.executable, __file__, *mode]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return float(intercept), float(slope)


def main(sizes: tuple[int, ...]) -> None:
    curves: dict[str, Any] = {}
    for n in sizes:
        one, two = run_point(n, 1), run_point(n, 2)
        assert one["digest"] == two["digest"], f"{n}: the 2-process screen differs"
        peak_two = max([two["parent_peak_rss_mb"], *two["worker_peak_rss_mb"]])
        curves[str(n)] = {
            "pairs": one["pairs"],
            "1p": {k: one[k] for k in ONE_KEYS},
            "2p": {k: two[k] for k in TWO_KEYS},
            "2p_max_process_rss_mb": peak_two,
            "speedup": round(one["wall_s"] / two["wall_s"], 2),
            "cpu_speedup": round(one["cpu_s"] / two["critical_cpu_s"], 2),
            "identical": True,
        }
        print(f"{n} symbols: {json.dumps(curves[str(n)])}", flush=True)
    rolling = {str(n): run_point(n, 0) for n in sizes if n in ROLLING_SIZES}
    for size, r in rolling.items():
        print(f"{size} symbols, per-bar update: {json.dumps(r)}", flush=True)
    pairs = [float(c["pairs"]) for c in curves.values()]
    cpu_fit = fit(pairs, [c["1p"]["cpu_s"] for c in curves.values()])
    rss_fit = fit(pairs, [c["1p"]["parent_peak_rss_mb"] for c in curves.values()])
    print(
        json.dumps(
            {
                "bars": BARS,
                "curves": curves,
                "speedups": {n: c["speedup"] for n, c in curves.items()},
                "cpu_speedups": {n: c["cpu_speedup"] for n, c in curves.items()},
                "incremental": {
                    n: incremental_summary(r, curves[n]["1p"]) for n, r in rolling.items()
                },
                "fit_1p_cpu_us_per_pair": round(cpu_fit[1] * 1e6, 3),
                "fit_1p_cpu_fixed_s": round(cpu_fit[0], 3),
                "fit_1p_rss_kb_per_pair": round(rss_fit[1] * 1024.0, 4),
                "fit_1p_rss_fixed_mb": round(rss_fit[0], 1),
            }
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--point", nargs=2, type=int, metavar=("SYMBOLS", "PROCESSES"))
    parser.add_argument("--rolling", type=int, metavar="SYMBOLS")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    if args.rolling:
        print(json.dumps(rolling_point(args.rolling)))
    elif args.point:
        print(json.dumps(point(*args.point)))
    else:
        main(tuple(args.sizes))
