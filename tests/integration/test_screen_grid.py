"""A screen's blocks computed by the pairs replicas through PostgreSQL (screen_grid.py).

Two replicas share one pairs database: the owner writes the blocks, a standby computes them
(and the owner too, when it works), and the merged screen equals the one-process screen
field for field. A replica that claimed a block and died leaves a lease that runs out; the
block is then computed by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import astuple
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from core.cointegration.blocks import ScreenOptions, block_input, screen_block
from core.cointegration.screen import screen_universe
from core.cointegration.symbol_moments import TILE
from services.pairs.screen_grid import ReplicaGrid, ScreenGrid, encode_input, encode_options
from shared.runtime.service import apply_migrations, create_pool
from tests.unit.pairs.synthetic import random_universe

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parents[2] / "services" / "pairs" / "migrations"


@contextlib.asynccontextmanager
async def pairs_pool(
    fresh_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(await fresh_database("pairs"), "pairs", max_size=6)
    try:
        await apply_migrations(pool, "pairs", [("pairs", MIGRATIONS)])
        yield pool
    finally:
        await pool.close()


def same_records(left: list[object], right: list[object]) -> bool:
    """`==` on every field, NaN equal to NaN."""
    return len(left) == len(right) and all(
        u == v or (u != u and v != v)
        for x, y in zip(left, right, strict=True)
        for u, v in zip(astuple(x), astuple(y), strict=True)  # type: ignore[call-overload]
    )


async def test_blocks_computed_by_the_replicas_give_the_one_process_screen(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    prices = random_universe(23, n_bars=150, n_symbols=TILE + 12)
    prices[:, 30] = 42.0  # untestable: NaN through the table and back
    symbols = [f"S{i:03d}" for i in range(prices.shape[1])]
    loop = asyncio.get_running_loop()
    async with pairs_pool(fresh_database) as pool:
        owner = ReplicaGrid(pool, "owner", loop, lease_s=30)
        standby = ReplicaGrid(pool, "standby", loop, lease_s=30)
        screen = ScreenGrid(owner, blocks=4, min_pairs=0, local=lambda *a: [])

        # Only the standby works: every block crosses the table and comes back.
        working = asyncio.create_task(standby.work(idle_s=0.01))
        try:
            grid = await asyncio.to_thread(screen, prices, symbols, "aic", None)
        finally:
            working.cancel()
        assert standby.computed == 4 and owner.computed == 0
        assert same_records(grid, screen_universe(prices, symbols))  # type: ignore[arg-type]

        # Both work, as in the service: the result is the same whoever computed what.
        tasks = [asyncio.create_task(g.work(idle_s=0.01)) for g in (owner, standby)]
        try:
            again = await asyncio.to_thread(screen, prices, symbols, "aic", None)
        finally:
            for t in tasks:
                t.cancel()
        assert owner.computed + standby.computed == 8
        assert same_records(again, grid)  # type: ignore[arg-type]
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM screen_blocks") == 0  # all taken


async def test_a_block_whose_claimer_died_is_computed_when_its_lease_runs_out(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    prices = random_universe(24, n_bars=80, n_symbols=12)
    loop = asyncio.get_running_loop()
    async with pairs_pool(fresh_database) as pool:
        survivor = ReplicaGrid(pool, "survivor", loop, lease_s=30)
        block_id = uuid.uuid4()
        async with pool.acquire() as conn:
            await conn.execute(
                """INSERT INTO screen_blocks (block_id, submitted_by, n_pairs, input, options,
                                              claimed_by, lease_until)
                   VALUES ($1, 'owner', 66, $2, $3::jsonb, 'dead', now() + interval '1 hour')""",
                block_id, encode_input(block_input(prices, 0, 66)),
                encode_options(ScreenOptions()),
            )  # fmt: skip
        assert not await survivor.work_once()  # leased to the dead replica: left alone
        async with pool.acquire() as conn:
            await conn.execute("UPDATE screen_blocks SET lease_until = now() - interval '1 s'")
        assert await survivor.work_once()
        async with pool.acquire() as conn:
            row = await conn.fetchrow("SELECT computed_by, result FROM screen_blocks")
        assert row["computed_by"] == "survivor" and row["result"] is not None


async def test_on_the_event_loops_thread_or_for_a_small_screen_it_stays_local(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    prices = random_universe(25, n_bars=60, n_symbols=6)
    symbols = [f"S{i}" for i in range(6)]
    calls: list[int] = []

    def local(closes: np.ndarray, syms: list[str], autolag: object, maxlag: object) -> list[int]:
        calls.append(len(syms))
        return []

    async with pairs_pool(fresh_database) as pool:
        grid = ReplicaGrid(pool, "owner", asyncio.get_running_loop())
        big = ScreenGrid(grid, blocks=2, min_pairs=0, local=local)  # type: ignore[arg-type]
        assert big(prices, symbols, "aic", None) == []  # on the loop's thread: never waits
        small = ScreenGrid(grid, blocks=2, min_pairs=16, local=local)  # type: ignore[arg-type]
        assert await asyncio.to_thread(small, prices, symbols, "aic", None) == []  # 15 pairs
        assert calls == [6, 6]
        with pytest.raises(RuntimeError, match="off the event loop"):
            grid.submit(screen_block, block_input(prices, 0, 15), ScreenOptions())
