"""A universe screen's pair space sharded across the pairs replicas (TITAN_PAIRS_SCREEN_GRID_BLOCKS).

The replica that owns the bars (the exclusive owner) decides every pair's lifecycle:
Benjamini-Hochberg adjusts each p-value by its rank among all of them. The statistics before
that, ~all of a screen's CPU, are cut into blocks of pair ids (`core/cointegration/blocks.py`):
each block carries only the closes of the tiles its pairs touch. Here the owner writes the
blocks to `screen_blocks` in its schema, and every replica of the service, the standbys and
the owner itself, claims blocks (`FOR UPDATE SKIP LOCKED`, with a lease), computes them and
writes the statistics back; the owner merges them in pair-id order. A block is a pure
function of its input, computed by the same arithmetic wherever it runs (bit-identical to the
one-process screen, `tests/unit/pairs/test_sharded.py`), so which replica computed what never
shows in the output. A claimer that dies leaves a lease that runs out; the block is claimed
again, by the owner itself if no one else is left.

Serialised as NumPy archives (never pickle): the rows are data, not code.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import asyncpg
import numpy as np
from numpy.typing import NDArray

from core.cointegration import (
    Autolag,
    BlockInput,
    BlockStats,
    PairScreenResult,
    ScreenOptions,
    n_pairs,
    screen_block,
    screen_table_sharded,
)
from services.pairs.domain.screening import ScreenFn
from shared.runtime.retry import retry_transient

log = logging.getLogger(__name__)

# How often a waiting owner looks for its blocks' results: 5 ms doubling to 100 ms, so a
# block of a few milliseconds costs one or two round trips and a long one ~10 per second.
FIRST_POLL_S, MAX_POLL_S = 0.005, 0.1
# A block still there this many leases after it was written has no owner waiting for it.
ABANDONED_AFTER_LEASES = 10


def _archive(**arrays: Any) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _open(data: bytes) -> dict[str, NDArray[Any]]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def encode_input(inp: BlockInput) -> bytes:
    head = np.array([inp.n_symbols, inp.n_bars, inp.start, inp.stop, inp.n_row_tiles])
    closes = np.stack(inp.closes) if inp.closes else np.empty((0, inp.n_bars, 0))
    return _archive(head=head, tiles=np.array(inp.tiles, dtype=np.int64), closes=closes)


def decode_input(data: bytes) -> BlockInput:
    z = _open(data)
    n_symbols, n_bars, start, stop, n_row_tiles = (int(v) for v in z["head"])
    closes = tuple(np.ascontiguousarray(c) for c in z["closes"])
    tiles = tuple(int(t) for t in z["tiles"])
    return BlockInput(n_symbols, n_bars, start, stop, tiles, n_row_tiles, closes)


_STATS = ("a_index", "b_index", "hedge_ratio", "intercept", "adf_stat", "pvalue", "lag",
          "half_life", "hurst", "critical_values")  # fmt: skip


def encode_stats(stats: BlockStats) -> bytes:
    return _archive(nobs=np.array(stats.nobs), **{k: getattr(stats, k) for k in _STATS})


def decode_stats(data: bytes) -> BlockStats:
    z = _open(data)
    return BlockStats(**{k: z[k] for k in _STATS}, nobs=int(z["nobs"]))


def encode_options(opts: ScreenOptions) -> str:
    return json.dumps(
        {
            "window": opts.window,
            "autolag": opts.autolag,
            "maxlag": opts.maxlag,
            "log_prices": opts.log_prices,
            "hurst_max_lag": opts.hurst_max_lag,
            "chunk_size": opts.chunk_size,
        }
    )


def decode_options(text: str) -> ScreenOptions:
    return ScreenOptions(**json.loads(text))


class ReplicaGrid(Executor):
    """An Executor of `screen_block` over the replicas: `submit` (from a worker thread,
    never the event loop's) writes the block and waits for whoever computes it; `work`
    (a background job of every replica) claims and computes blocks."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        replica: str,
        loop: asyncio.AbstractEventLoop,
        *,
        lease_s: float = 60.0,
        local: Executor | None = None,
        on_computed: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.replica = replica
        self.loop = loop
        self.lease_s = lease_s
        self.local = local  # where this replica computes a block it claimed (None: a thread)
        self.computed = 0  # blocks this replica computed
        self.on_computed = on_computed
        # Made on the loop's thread (the composition root): a screen called there must not
        # wait for the loop it blocks.
        self.loop_thread = threading.get_ident()

    def on_loop_thread(self) -> bool:
        return threading.get_ident() == self.loop_thread

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if fn is not screen_block or kwargs or len(args) != 2:
            raise TypeError("the replica grid runs screen_block(BlockInput, ScreenOptions) only")
        if self.on_loop_thread():
            raise RuntimeError("a screen on the grid must be awaited off the event loop")
        return asyncio.run_coroutine_threadsafe(self.block(args[0], args[1]), self.loop)

    async def block(self, inp: BlockInput, opts: ScreenOptions) -> BlockStats:
        """Write one block, wait until some replica has computed it, take the result."""
        block_id, data, options = uuid.uuid4(), encode_input(inp), encode_options(opts)

        async def write() -> None:
            async with self.pool.acquire() as conn:
                await conn.execute(
                    """INSERT INTO screen_blocks (block_id, submitted_by, n_pairs, input, options)
                       VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT DO NOTHING""",
                    block_id, self.replica, inp.stop - inp.start, data, options,
                )  # fmt: skip

        await retry_transient("write screen block", write)
        delay = FIRST_POLL_S
        while True:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT result FROM screen_blocks WHERE block_id = $1", block_id
                )
                if row is not None and row["result"] is not None:
                    await conn.execute("DELETE FROM screen_blocks WHERE block_id = $1", block_id)
                    return decode_stats(bytes(row["result"]))
            if row is None:  # taken for abandoned (a screen longer than ten leases)
                await retry_transient("write screen block", write)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_POLL_S)

    async def work_once(self) -> bool:
        """Claim one open block (or one whose claimer's lease ran out), compute it, write the
        result. False when there was none."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT block_id, input, options::text AS options FROM screen_blocks
                   WHERE result IS NULL AND (lease_until IS NULL OR lease_until < now())
                   ORDER BY submitted_at, block_id LIMIT 1 FOR UPDATE SKIP LOCKED"""
            )
            if row is None:
                return False
            await conn.execute(
                """UPDATE screen_blocks SET claimed_by = $2,
                          lease_until = now() + make_interval(secs => $3)
                   WHERE block_id = $1""",
                row["block_id"], self.replica, self.lease_s,
            )  # fmt: skip
        inp, opts = decode_input(bytes(row["input"])), decode_options(row["options"])
        started = time.perf_counter()
        try:
            stats = await self.loop.run_in_executor(self.local, screen_block, inp, opts)
        except asyncio.CancelledError:
            # Stopping (SIGTERM): hand the block back now rather than at the lease's end.
            async with self.pool.acquire() as conn:
                await conn.execute(
                    """UPDATE screen_blocks SET claimed_by = NULL, lease_until = NULL
                       WHERE block_id = $1 AND claimed_by = $2 AND result IS NULL""",
                    row["block_id"], self.replica,
                )  # fmt: skip
            raise
        async with self.pool.acquire() as conn:
            # Only if no one wrote it meanwhile (a lease that ran out during a long block):
            # the result is the same either way, the first one stays.
            await conn.execute(
                """UPDATE screen_blocks SET result = $2, computed_by = $3
                   WHERE block_id = $1 AND result IS NULL""",
                row["block_id"], encode_stats(stats), self.replica,
            )  # fmt: skip
        self.computed += 1
        if self.on_computed is not None:
            self.on_computed()
        # The first block, then every 100th: the log shows the grid at work, not each block.
        level = logging.INFO if self.computed % 100 == 1 else logging.DEBUG
        log.log(level, "computed screen block %d (%d pairs in %.3f s)", self.computed,
                inp.stop - inp.start, time.perf_counter() - started)  # fmt: skip
        return True

    async def forget_abandoned(self) -> int:
        """Delete blocks no owner will take any more: submitted by an owner that died
        mid-screen (its successor submits the screen again under new block ids)."""
        async with self.pool.acquire() as conn:
            status: str = await conn.execute(
                "DELETE FROM screen_blocks WHERE submitted_at < now() - make_interval(secs => $1)",
                ABANDONED_AFTER_LEASES * self.lease_s,
            )
        return int(status.split()[-1])

    async def work(self, idle_s: float = 0.05) -> None:
        """Compute blocks as they come, until cancelled. Failures (a database outage) are
        logged and waited out: a background job that raises would stop the service."""
        last_cleanup = 0.0
        while True:
            try:
                if time.monotonic() - last_cleanup > self.lease_s:
                    last_cleanup = time.monotonic()
                    await self.forget_abandoned()
                if await self.work_once():
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("screen block failed; trying again")
                await asyncio.sleep(1.0)
            await asyncio.sleep(idle_s)


class ScreenGrid:
    """The pipeline's screen function: `blocks` blocks on the replica grid for a screen of at
    least `min_pairs` pairs, else (and on the event loop's own thread) `local`."""

    def __init__(self, grid: ReplicaGrid, blocks: int, min_pairs: int, local: ScreenFn) -> None:
        if blocks < 1:
            raise ValueError(f"a screen grid needs >= 1 block, got {blocks}")
        self.grid, self.blocks, self.min_pairs, self.local = grid, blocks, min_pairs, local

    def __call__(
        self,
        closes: NDArray[np.float64],
        symbols: list[str],
        autolag: Autolag,
        maxlag: int | None,
    ) -> Sequence[PairScreenResult]:
        if self.grid.on_loop_thread() or n_pairs(len(symbols)) < self.min_pairs:
            return self.local(closes, symbols, autolag, maxlag)
        return screen_table_sharded(
            closes, symbols, self.blocks, self.grid, autolag=autolag, maxlag=maxlag
        )
