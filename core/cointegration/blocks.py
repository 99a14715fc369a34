"""The universe screen as blocks of pair ids: screen a block, merge blocks, adjust once.

Pair ids: the unordered pairs i < j of the (symbol-sorted) universe in row-major order, the
order of ``numpy.triu_indices(n, 1)``; pair (i, j) has id ``i * n - i * (i + 1) / 2 + j - i - 1``.
:func:`pair_blocks` cuts the ids into contiguous blocks of near-equal size. A block reads only
the closes of the symbol tiles its pairs touch (:mod:`symbol_moments`), computes every per-pair
statistic of the screen (everything before Benjamini-Hochberg), and :func:`merge_blocks`
concatenates the blocks in pair order and adjusts the p-values over the whole universe. Every
per-pair number is computed by the same arithmetic whatever the block, so any partition gives
the screen bit for bit.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.cointegration.diagnostics import benjamini_hochberg
from core.cointegration.engle_granger import (
    _AUTOLAG_CHOICES,
    Autolag,
    EngleGrangerResult,
    resolve_maxlag,
    run_pairs,
)
from core.cointegration.mackinnon import mackinnon_critical_values
from core.cointegration.spread_moments import (
    SpreadMoments,
    half_life_of,
    hurst_of,
    spread_moments,
)
from core.cointegration.symbol_moments import (
    TILE,
    n_tiles,
    prepare_tile,
    symbol_moments,
    tile_columns,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


def n_pairs(n_symbols: int) -> int:
    return n_symbols * (n_symbols - 1) // 2


def pair_blocks(n_symbols: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous [start, stop) ranges of pair ids covering all pairs once; sizes
    differ by at most one (empty blocks when there are fewer pairs than shards)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    total = n_pairs(n_symbols)
    bounds = [total * s // shards for s in range(shards + 1)]
    return list(itertools.pairwise(bounds))


def pair_shard(pair_ids: NDArray[np.int64], shard: int, n_shards: int) -> NDArray[np.int64]:
    """The ids shard ``shard`` of ``n_shards`` owns: the ``shard``-th of ``n_shards``
    contiguous blocks of the sorted ids, sizes differing by at most one (the cut of
    :func:`pair_blocks` when the ids are every pair id). Depends only on the ids, never on
    which replica or process asks, so every owner agrees on the blocks."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(
            f"shard must be in 0..n_shards-1 with n_shards >= 1, got {shard}/{n_shards}"
        )
    ids = np.unique(np.asarray(pair_ids, dtype=np.int64))  # sorted, each once
    return ids[ids.size * shard // n_shards : ids.size * (shard + 1) // n_shards]


def pair_indices(n_symbols: int, start: int, stop: int) -> tuple[IntArray, IntArray]:
    """(i, j) of pair ids start..stop-1 (i < j)."""
    ids = np.arange(start, stop, dtype=np.int64)
    rows = np.arange(n_symbols, dtype=np.int64)
    first_id = rows * n_symbols - rows * (rows + 1) // 2  # id of (i, i + 1)
    i = np.searchsorted(first_id, ids, side="right") - 1
    j = ids - first_id[i] + i + 1
    return i.astype(np.intp), j.astype(np.intp)


@dataclass(frozen=True)
class BlockInput:
    """What one block reads: its pair ids and the closes of the tiles its pairs touch."""

    n_symbols: int
    n_bars: int
    start: int
    stop: int
    tiles: tuple[int, ...]  # global tile ids, row tiles (first legs) first
    n_row_tiles: int
    closes: tuple[FloatArray, ...]  # (T, TILE) raw closes per tile, padded with 1.0


def block_input(closes: FloatArray, start: int, stop: int) -> BlockInput:
    """Cut the closes a block of pair ids needs out of the universe's (T, N) close matrix."""
    n_sym = closes.shape[1]
    i, j = pair_indices(n_sym, start, stop)
    rows = sorted(set((i // TILE).tolist()))
    others = sorted(set((j // TILE).tolist()) - set(rows))
    tiles = tuple(rows + others)
    raw = tuple(tile_columns(closes, t) for t in tiles)
    return BlockInput(n_sym, closes.shape[0], start, stop, tiles, len(rows), raw)


@dataclass(frozen=True)
class BlockStats:
    """Per-pair screen statistics of one block (ordering chosen, not yet adjusted)."""

    a_index: IntArray
    b_index: IntArray
    hedge_ratio: FloatArray
    intercept: FloatArray
    adf_stat: FloatArray
    pvalue: FloatArray
    lag: IntArray
    half_life: FloatArray
    hurst: FloatArray
    critical_values: FloatArray
    nobs: int


@dataclass(frozen=True)
class ScreenOptions:
    window: int | None = None
    autolag: Autolag = "aic"
    maxlag: int | None = None
    log_prices: bool = True
    hurst_max_lag: int = 20
    chunk_size: int = 512

    def __post_init__(self) -> None:
        if self.autolag is not None and self.autolag not in _AUTOLAG_CHOICES:
            raise ValueError(f"autolag must be one of {_AUTOLAG_CHOICES} or None")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")


def _local(inp: BlockInput, index: IntArray) -> IntArray:
    position = np.zeros(n_tiles(inp.n_symbols), dtype=np.intp)
    position[list(inp.tiles)] = np.arange(len(inp.tiles))
    return np.asarray(position[index // TILE] * TILE + index % TILE, dtype=np.intp)


def screen_block(inp: BlockInput, opts: ScreenOptions) -> BlockStats:
    """Engle-Granger both ways, the better ordering, half-life and Hurst for a block's pairs."""
    if opts.window is not None and not 20 <= opts.window <= inp.n_bars:
        raise ValueError(f"window must be in 20..{inp.n_bars} bars, got {opts.window}")
    z = [prepare_tile(raw, window=opts.window, log_prices=opts.log_prices) for raw in inp.closes]
    t_len = inp.n_bars if opts.window is None else opts.window
    m = resolve_maxlag(t_len, opts.maxlag)
    i, j = pair_indices(inp.n_symbols, inp.start, inp.stop)
    if i.size == 0:
        return _empty_block(t_len)
    li, lj = _local(inp, i), _local(inp, j)
    sm = symbol_moments(z, m, inp.n_row_tiles)
    fwd = run_pairs(sm, li, lj, t_len, m, opts.autolag, opts.chunk_size)
    bwd = run_pairs(sm, lj, li, t_len, m, opts.autolag, opts.chunk_size)
    del sm  # the Engle-Granger moments are the block's largest arrays
    return _pick(fwd, bwd, i, j, spread_moments(z, inp.n_row_tiles, opts.hurst_max_lag))


def _pick(
    fwd: EngleGrangerResult, bwd: EngleGrangerResult, i: IntArray, j: IntArray, sp: SpreadMoments
) -> BlockStats:
    """Per pair, the ordering with the more negative ADF statistic (see ``screen.py``)."""
    use_bwd = np.where(np.isnan(fwd.adf_stat), ~np.isnan(bwd.adf_stat), bwd.adf_stat < fwd.adf_stat)

    def pick(f: NDArray[np.generic], b: NDArray[np.generic]) -> NDArray[np.generic]:
        return np.where(use_bwd, b, f)

    local_a = pick(fwd.y_index, bwd.y_index).astype(np.intp)
    local_b = pick(fwd.x_index, bwd.x_index).astype(np.intp)
    beta = pick(fwd.hedge_ratio, bwd.hedge_ratio).astype(np.float64)
    return BlockStats(
        a_index=np.where(use_bwd, j, i).astype(np.intp),
        b_index=np.where(use_bwd, i, j).astype(np.intp),
        hedge_ratio=beta,
        intercept=pick(fwd.intercept, bwd.intercept).astype(np.float64),
        adf_stat=pick(fwd.adf_stat, bwd.adf_stat).astype(np.float64),
        pvalue=pick(fwd.pvalue, bwd.pvalue).astype(np.float64),
        lag=pick(fwd.lag, bwd.lag).astype(np.intp),
        half_life=half_life_of(sp, local_a, local_b, beta),
        hurst=hurst_of(sp, local_a, local_b, beta),
        critical_values=fwd.critical_values,
        nobs=fwd.nobs,
    )


def _empty_block(t_len: int) -> BlockStats:
    f, k = np.empty(0), np.empty(0, dtype=np.intp)
    crit = mackinnon_critical_values(t_len - 1, trend="c", n_series=2)
    return BlockStats(k, k, f, f, f, f, k, f, f, crit, t_len)


@dataclass(frozen=True)
class ScreenArrays:
    """Column-oriented screen output (what :func:`screen.screen_universe` turns into records)."""

    a_index: IntArray
    b_index: IntArray
    hedge_ratio: FloatArray
    intercept: FloatArray
    adf_stat: FloatArray
    pvalue: FloatArray
    lag: IntArray
    half_life: FloatArray
    hurst: FloatArray
    pvalue_adjusted: FloatArray
    n_tests: int
    critical_values: FloatArray
    nobs: int


def merge_blocks(blocks: Sequence[BlockStats]) -> ScreenArrays:
    """Blocks in pair-id order, then Benjamini-Hochberg once over the universe's p-values."""
    if not blocks:
        raise ValueError("no blocks to merge")

    def cat(name: str) -> NDArray[np.generic]:
        return np.concatenate([getattr(b, name) for b in blocks])

    pvalue = cat("pvalue").astype(np.float64)
    adjusted, n_tests = benjamini_hochberg(pvalue)
    return ScreenArrays(
        a_index=cat("a_index").astype(np.intp),
        b_index=cat("b_index").astype(np.intp),
        hedge_ratio=cat("hedge_ratio").astype(np.float64),
        intercept=cat("intercept").astype(np.float64),
        adf_stat=cat("adf_stat").astype(np.float64),
        pvalue=pvalue,
        lag=cat("lag").astype(np.intp),
        half_life=cat("half_life").astype(np.float64),
        hurst=cat("hurst").astype(np.float64),
        pvalue_adjusted=adjusted,
        n_tests=n_tests,
        critical_values=blocks[0].critical_values,
        nobs=blocks[0].nobs,
    )
