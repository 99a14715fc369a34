"""The universe screen sharded into blocks of pair ids that may run in other processes.

The O(n^2) pair space is cut into ``shards`` contiguous blocks of pair ids
(:func:`blocks.pair_blocks`). Each block is cut out of the close matrix here, so a worker
receives only the closes of the symbol tiles its pairs touch; it returns the per-pair raw
statistics, and the merge adjusts the p-values once over the whole universe. Because every
per-pair number is computed by the same arithmetic whatever the block (fixed symbol tiles, see
``symbol_moments.py``), the result equals :func:`screen.screen_universe` bit for bit for any
number of shards, in-process or in a pool.

The executor is the caller's (a ``ProcessPoolExecutor`` with a spawn or forkserver context and
one BLAS thread per worker, see ``services/pairs/screen_pool.py``); ``None`` runs the blocks
here, one after the other. Nothing here starts processes.
"""

from __future__ import annotations

from concurrent.futures import Executor

import numpy as np
from numpy.typing import ArrayLike

from core.cointegration.blocks import (
    BlockStats,
    ScreenArrays,
    ScreenOptions,
    block_input,
    merge_blocks,
    pair_blocks,
    screen_block,
)
from core.cointegration.engle_granger import Autolag
from core.cointegration.screen import PairScreenResult, ScreenTable, check_universe


def screen_arrays_sharded(
    prices: ArrayLike, shards: int, executor: Executor | None, opts: ScreenOptions
) -> ScreenArrays:
    """:func:`screen.screen_arrays` computed as ``shards`` blocks of pair ids."""
    closes = np.asarray(prices, dtype=np.float64)
    if closes.ndim != 2:
        raise ValueError(f"prices must be a 2-D (bars x symbols) array, got shape {closes.shape}")
    if closes.shape[1] < 2:
        raise ValueError("a screen needs at least 2 symbols")
    inputs = [
        block_input(closes, start, stop) for start, stop in pair_blocks(closes.shape[1], shards)
    ]
    if executor is None:
        stats: list[BlockStats] = [screen_block(inp, opts) for inp in inputs]
    else:
        # Futures in block order: the merge needs pair-id order, not completion order.
        futures = [executor.submit(screen_block, inp, opts) for inp in inputs]
        stats = [f.result() for f in futures]
    return merge_blocks(stats)


def screen_universe_sharded(
    prices: ArrayLike,
    symbols: list[str],
    shards: int,
    executor: Executor | None = None,
    *,
    window: int | None = None,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
    log_prices: bool = True,
    hurst_max_lag: int = 20,
) -> list[PairScreenResult]:
    """:func:`screen.screen_universe`, the pair space cut into ``shards`` blocks."""
    opts = ScreenOptions(window, autolag, maxlag, log_prices, hurst_max_lag)
    return list(_table_sharded(prices, symbols, shards, executor, opts))


def screen_table_sharded(
    prices: ArrayLike,
    symbols: list[str],
    shards: int,
    executor: Executor | None = None,
    *,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
) -> ScreenTable:
    """:func:`screen_universe_sharded` as a table of records built when read."""
    opts = ScreenOptions(autolag=autolag, maxlag=maxlag)
    return _table_sharded(prices, symbols, shards, executor, opts)


def _table_sharded(
    prices: ArrayLike,
    symbols: list[str],
    shards: int,
    executor: Executor | None,
    opts: ScreenOptions,
) -> ScreenTable:
    arr = check_universe(prices, symbols)
    return ScreenTable(screen_arrays_sharded(arr, shards, executor, opts), symbols)
