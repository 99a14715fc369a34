"""Benchmark: the universe screen in one process vs sharded over two worker processes.

Random universes (geometric random walks, every fifth symbol tied to its neighbour by a
stationary spread, fixed seed) of 200, 500, 1,000 and 2,000 symbols x 252 bars, autolag AIC.
For each size two configurations, each measured in a fresh subprocess so peak RSS is per point:

- ``1p``: today's screen, in-process (the sharded screen with one block);
- ``2p``: two blocks of pair ids in a spawned ``ProcessPoolExecutor`` of two workers (BLAS
  pinned to one thread, as the pairs service's TITAN_PAIRS_SCREEN_WORKERS pool). The pool is
  started and warmed before the clock starts: a service keeps its pool.

Measured per point: wall seconds of the screen; CPU seconds (user + system) of the screen in
every process (the parent's, plus each worker's over its block, returned by the worker); peak
RSS (ru_maxrss) of the parent and of each worker. The 2,000-symbol points run once, the others
take the median wall time of ``REPEATS`` runs. Each point checks the 2p screen against the 1p
one (bit-identical). The last line printed is one JSON object.
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

from core.cointegration.blocks import (  # noqa: E402
    BlockInput,
    BlockStats,
    ScreenArrays,
    ScreenOptions,
    block_input,
    merge_blocks,
    pair_blocks,
    screen_block,
)
from services.pairs.screen_pool import screen_process_pool  # noqa: E402

SIZES = (200, 500, 1000, 2000)
BARS = 252
REPEATS = 3
SEED = 3


def synthetic_prices(n_bars: int, n_symbols: int, seed: int) -> np.ndarray:
    """Geometric random walks, every fifth symbol tied to its neighbour by a stationary spread."""
    rng = np.random.default_rng(seed)
    log_p = 4.0 + np.cumsum(0.01 * rng.standard_normal((n_bars, n_symbols)), axis=0)
    for j in range(0, n_symbols - 1, 5):
        noise = np.zeros(n_bars)
        shocks = 0.01 * rng.standard_normal(n_bars)
        for t in range(1, n_bars):
            noise[t] = 0.9 * noise[t - 1] + shocks[t]
        log_p[:, j + 1] = 0.5 + 0.9 * log_p[:, j] + noise
    return np.exp(log_p)


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
    inputs = [block_input(closes, a, b) for a, b in pair_blocks(closes.shape[1], shards)]
    if pool is None:
        outs = [measured_block(inp, opts) for inp in inputs]
    else:
        futures = [pool.submit(measured_block, inp, opts) for inp in inputs]
        outs = [f.result() for f in futures]
    merged = merge_blocks([o[0] for o in outs])
    wall, parent_cpu = time.perf_counter() - wall, cpu_s() - cpu
    worker_cpu = sum(o[1] for o in outs) if pool is not None else 0.0
    return {
        "wall_s": wall,
        "cpu_s": parent_cpu + worker_cpu,
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
    repeats = 1 if n_symbols >= 2000 else REPEATS
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
        "parent_peak_rss_mb": round(peak_rss_mb(), 1),
        "worker_peak_rss_mb": [round(r, 1) for r in best["worker_rss_mb"]],
        "digest": digest(merged),
        "repeats": repeats,
    }


def warm_worker(_: int) -> float:
    time.sleep(0.5)  # keeps each worker busy so that every worker gets spawned
    return peak_rss_mb()


def run_point(n_symbols: int, processes: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--point", str(n_symbols), str(processes)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    slope, intercept = np.polyfit(np.asarray(xs), np.asarray(ys), 1)
    return float(intercept), float(slope)


def main() -> None:
    curves: dict[str, Any] = {}
    for n in SIZES:
        one, two = run_point(n, 1), run_point(n, 2)
        assert one["digest"] == two["digest"], f"{n}: the 2-process screen differs"
        peak_two = max([two["parent_peak_rss_mb"], *two["worker_peak_rss_mb"]])
        curves[str(n)] = {
            "pairs": one["pairs"],
            "1p": {k: one[k] for k in ("wall_s", "cpu_s", "parent_peak_rss_mb")},
            "2p": {
                k: two[k] for k in ("wall_s", "cpu_s", "parent_peak_rss_mb", "worker_peak_rss_mb")
            },
            "2p_max_process_rss_mb": peak_two,
            "speedup": round(one["wall_s"] / two["wall_s"], 2),
            "identical": True,
        }
        print(f"{n} symbols: {json.dumps(curves[str(n)])}", flush=True)
    pairs = [float(c["pairs"]) for c in curves.values()]
    cpu_fit = fit(pairs, [c["1p"]["cpu_s"] for c in curves.values()])
    rss_fit = fit(pairs, [c["1p"]["parent_peak_rss_mb"] for c in curves.values()])
    print(
        json.dumps(
            {
                "bars": BARS,
                "curves": curves,
                "speedups": {n: c["speedup"] for n, c in curves.items()},
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
    args = parser.parse_args()
    if args.point:
        print(json.dumps(point(*args.point)))
    else:
        main()
