"""The pairs screen across the service's replicas (the replica grid, services/pairs/screen_grid.py):
one replica vs two, each a process, the blocks crossing a real PostgreSQL, in one run.

Per universe (252 bars, synthetic): the one-process screen (`screen_table`, the baseline);
the grid with the owner alone computing its BLOCKS blocks (one replica: the cost of the
table round trips); the grid with a standby replica in another process computing blocks
too (two replicas). Wall and CPU seconds per process; every grid result is checked equal to
the baseline, array for array. The machine is shared: the 1-minute load is in every point.
Last line: one JSON object.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import fields  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import unquote, urlsplit  # noqa: E402

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._infra import bench_infra  # noqa: E402
from bench._universes import synthetic_prices  # noqa: E402
from core.cointegration import ScreenTable, screen_table  # noqa: E402
from services.pairs.screen_grid import ReplicaGrid, ScreenGrid  # noqa: E402
from shared.infra.postgres import dsn_with  # noqa: E402
from shared.infra.provision import ensure_database  # noqa: E402
from shared.runtime.service import apply_migrations, create_pool  # noqa: E402

SIZES = (300, 600, 1000)
BARS = 252
BLOCKS = 4
MIGRATIONS = ROOT / "services" / "pairs" / "migrations"


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def same(left: ScreenTable, right: ScreenTable) -> bool:
    a, b = left.arrays, right.arrays
    return all(
        np.array_equal(np.asarray(getattr(a, f.name)), np.asarray(getattr(b, f.name)),
                       equal_nan=np.asarray(getattr(a, f.name)).dtype.kind == "f")
        for f in fields(a)
    )  # fmt: skip


async def standby(dsn: str) -> None:
    """A second replica: computes blocks until SIGTERM, then prints its CPU seconds."""
    loop = asyncio.get_running_loop()
    pool = await create_pool(dsn, "pairs", max_size=2)
    grid = ReplicaGrid(pool, "standby", loop, lease_s=120)
    work = asyncio.create_task(grid.work(idle_s=0.01))
    loop.add_signal_handler(signal.SIGTERM, work.cancel)
    print("ready", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        await work
    await pool.close()
    print(json.dumps({"cpu_s": round(cpu_s(), 3), "blocks": grid.computed}), flush=True)


async def grid_screen(pool: asyncpg.Pool, prices: np.ndarray, symbols: list[str]) -> Any:
    """The owner's screen on the grid, the owner computing blocks too; (table, wall, cpu)."""
    owner = ReplicaGrid(pool, "owner", asyncio.get_running_loop(), lease_s=120)

    def never(*_args: object) -> Any:
        raise AssertionError("the bench screens on the grid only")

    screen = ScreenGrid(owner, BLOCKS, 0, never)
    work = asyncio.create_task(owner.work(idle_s=0.01))
    wall, cpu = time.perf_counter(), cpu_s()
    try:
        table = await asyncio.to_thread(screen, prices, symbols, "aic", None)
    finally:
        work.cancel()
    return table, time.perf_counter() - wall, cpu_s() - cpu, owner.computed


async def with_standby(dsn: str, pool: asyncpg.Pool, prices: np.ndarray, symbols: list[str]) -> Any:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--standby", dsn, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    try:
        table, wall, cpu, mine = await grid_screen(pool, prices, symbols)
    finally:
        proc.send_signal(signal.SIGTERM)
    theirs = json.loads((await proc.stdout.readline()).decode())
    await proc.wait()
    return table, wall, cpu, mine, theirs


async def measure(dsn: str, pool: asyncpg.Pool, n_symbols: int) -> dict[str, Any]:
    prices = synthetic_prices(BARS, n_symbols, seed=3)
    symbols = [f"S{k:04d}" for k in range(n_symbols)]
    wall, cpu = time.perf_counter(), cpu_s()
    baseline = screen_table(prices, symbols)
    point: dict[str, Any] = {"pairs": len(baseline), "blocks": BLOCKS}
    point["one_process"] = {"wall_s": round(time.perf_counter() - wall, 3),
                            "cpu_s": round(cpu_s() - cpu, 3)}  # fmt: skip
    one, wall1, cpu1, blocks1 = await grid_screen(pool, prices, symbols)
    point["one_replica"] = {"wall_s": round(wall1, 3), "cpu_s": round(cpu1, 3),
                            "blocks": blocks1}  # fmt: skip
    two, wall2, cpu2, mine, theirs = await with_standby(dsn, pool, prices, symbols)
    point["two_replicas"] = {
        "wall_s": round(wall2, 3),
        "owner_cpu_s": round(cpu2, 3),
        "owner_blocks": mine,
        "standby_cpu_s": theirs["cpu_s"],  # includes its start-up imports
        "standby_blocks": theirs["blocks"],
    }
    point["identical"] = same(one, baseline) and same(two, baseline)
    point["speedup_two_vs_one_replica"] = round(wall1 / wall2, 2)
    point["speedup_two_replicas_vs_one_process"] = round(point["one_process"]["wall_s"] / wall2, 2)
    point["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return point


async def main() -> None:
    async with bench_infra() as (_bootstrap, admin_dsn):
        database = f"titan_bench_{secrets.token_hex(4)}"
        admin = await asyncpg.connect(admin_dsn)
        try:
            await ensure_database(admin, database)
            parts = urlsplit(admin_dsn)
            dsn = dsn_with(admin_dsn, user=unquote(parts.username or "postgres"),
                           password=unquote(parts.password or ""), database=database)  # fmt: skip
            pool = await create_pool(dsn, "pairs", max_size=4)
            try:
                await apply_migrations(pool, "pairs", [("pairs", MIGRATIONS)])
                curves = {}
                for n in SIZES:
                    curves[str(n)] = await measure(dsn, pool, n)
                    print(f"{n} symbols: {curves[str(n)]}", file=sys.stderr)
            finally:
                await pool.close()
        finally:
            await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            await admin.close()
    print(json.dumps({"bars": BARS, "blocks": BLOCKS, "curves": curves,
                      "speedups": {n: p["speedup_two_vs_one_replica"] for n, p in curves.items()},
                      "identical": all(p["identical"] for p in curves.values())}))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--standby", metavar="DSN", help="run as the second replica")
    args = parser.parse_args()
    asyncio.run(standby(args.standby) if args.standby else main())
