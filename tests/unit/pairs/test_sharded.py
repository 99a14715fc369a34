"""The universe screen sharded into blocks of pair ids equals the whole screen bit for bit."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple, fields

import numpy as np
import pytest

from core.cointegration.blocks import (
    ScreenArrays,
    ScreenOptions,
    block_input,
    n_pairs,
    pair_blocks,
    pair_indices,
    pair_shard,
)
from core.cointegration.screen import PairScreenResult, screen_arrays, screen_universe
from core.cointegration.sharded import screen_arrays_sharded, screen_universe_sharded
from core.cointegration.symbol_moments import TILE
from services.pairs.screen_pool import screen_process_pool
from tests.data import wide_20_stocks
from tests.unit.pairs.synthetic import random_universe

SHARDS = (1, 2, 3, 7)


@pytest.mark.parametrize("n_symbols", [0, 1, 2, 3, 5, 17, 130, 300])
@pytest.mark.parametrize("shards", [1, 2, 3, 7, 64, 5000])
def test_blocks_cover_every_pair_exactly_once(n_symbols: int, shards: int) -> None:
    blocks = pair_blocks(n_symbols, shards)
    total = n_pairs(n_symbols)
    assert len(blocks) == shards
    ids = np.concatenate([np.arange(a, b) for a, b in blocks])
    np.testing.assert_array_equal(ids, np.arange(total))  # contiguous, in order, no overlap
    sizes = [b - a for a, b in blocks]
    assert max(sizes) - min(sizes) <= 1
    i = np.concatenate([pair_indices(n_symbols, a, b)[0] for a, b in blocks])
    j = np.concatenate([pair_indices(n_symbols, a, b)[1] for a, b in blocks])
    first, second = np.triu_indices(n_symbols, k=1)
    np.testing.assert_array_equal(i, first)
    np.testing.assert_array_equal(j, second)


def test_pair_blocks_rejects_no_shards() -> None:
    with pytest.raises(ValueError, match="shards"):
        pair_blocks(10, 0)


def test_a_block_reads_only_the_tiles_its_pairs_touch() -> None:
    closes = random_universe(5, n_bars=40, n_symbols=3 * TILE + 5)
    n = closes.shape[1]
    for start, stop in pair_blocks(n, 7):
        inp = block_input(closes, start, stop)
        i, j = pair_indices(n, start, stop)
        assert set(inp.tiles) == set((i // TILE).tolist()) | set((j // TILE).tolist())
        assert inp.tiles[: inp.n_row_tiles] == tuple(sorted(set((i // TILE).tolist())))
        for tile, raw in zip(inp.tiles, inp.closes, strict=True):
            cols = closes[:, tile * TILE : (tile + 1) * TILE]
            np.testing.assert_array_equal(raw[:, : cols.shape[1]], cols)


def assert_same_arrays(left: ScreenArrays, right: ScreenArrays) -> None:
    for f in fields(ScreenArrays):
        a, b = getattr(left, f.name), getattr(right, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype, f.name
            assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), f.name
        else:
            assert a == b, f.name


def assert_same_records(left: list[PairScreenResult], right: list[PairScreenResult]) -> None:
    """``==`` on every field, NaN equal to NaN."""
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        for u, v in zip(astuple(x), astuple(y), strict=True):
            assert u == v or (u != u and v != v), (x, y)


@pytest.fixture(scope="module")
def universe() -> np.ndarray:
    """Three tiles of symbols, with a constant and a duplicated symbol for the NaN paths."""
    prices = random_universe(17, n_bars=120, n_symbols=2 * TILE + 40)
    prices[:, 150] = 42.0  # no variance: untestable (NaN)
    prices[:, 200] = prices[:, 7]  # collinear with symbol 7: -inf statistic
    return prices


@pytest.fixture(scope="module")
def whole(universe: np.ndarray) -> ScreenArrays:
    return screen_arrays(universe)


@pytest.mark.parametrize("shards", SHARDS)
def test_sharded_equals_the_whole_screen_on_random_data(
    universe: np.ndarray, whole: ScreenArrays, shards: int
) -> None:
    sharded = screen_arrays_sharded(universe, shards, None, ScreenOptions())
    assert_same_arrays(sharded, whole)


@pytest.mark.parametrize("shards", [2, 7])
def test_sharded_equals_the_whole_screen_with_window_and_fixed_lag(
    universe: np.ndarray, shards: int
) -> None:
    opts = ScreenOptions(window=90, autolag=None, maxlag=3)
    whole = screen_arrays(universe, window=90, autolag=None, maxlag=3)
    assert_same_arrays(screen_arrays_sharded(universe, shards, None, opts), whole)


@pytest.mark.parametrize("shards", SHARDS)
def test_sharded_equals_the_whole_screen_on_the_sp500_file(shards: int) -> None:
    frame = wide_20_stocks().iloc[-600:].dropna(axis=1)
    prices, symbols = frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]
    for window, autolag in ((None, "aic"), (252, "bic")):
        whole = screen_universe(prices, symbols, window, autolag)  # type: ignore[arg-type]
        sharded = screen_universe_sharded(
            prices,
            symbols,
            shards,
            None,
            window=window,
            autolag=autolag,  # type: ignore[arg-type]
        )
        assert_same_records(sharded, whole)


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    executor = screen_process_pool(2)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


def test_the_process_pool_gives_the_in_process_screen(
    universe: np.ndarray, pool: ProcessPoolExecutor
) -> None:
    symbols = [f"S{k:03d}" for k in range(universe.shape[1])]
    in_process = screen_universe_sharded(universe, symbols, 3, None)
    pooled = screen_universe_sharded(universe, symbols, 3, pool)
    assert_same_records(pooled, in_process)
    assert_same_records(pooled, screen_universe(universe, symbols))


def test_more_shards_than_pairs_leave_empty_blocks_out_of_the_result() -> None:
    prices = random_universe(4, n_bars=80, n_symbols=4)
    symbols = ["A", "B", "C", "D"]
    assert_same_records(
        screen_universe_sharded(prices, symbols, 10, None, window=60),
        screen_universe(prices, symbols, 60),
    )


@pytest.mark.parametrize(("n_symbols", "shards"), [(2, 1), (7, 3), (50, 2), (130, 7), (5, 20)])
def test_pair_shards_cut_the_ids_as_the_blocks_do(n_symbols: int, shards: int) -> None:
    ids = np.arange(n_pairs(n_symbols), dtype=np.int64)
    rng = np.random.default_rng(n_symbols)
    owned = [pair_shard(rng.permutation(ids), s, shards) for s in range(shards)]  # any order
    assert np.array_equal(np.concatenate(owned), ids)  # every id once, in order
    assert [(int(o[0]), int(o[-1]) + 1) for o in owned if o.size] == [
        (a, b) for a, b in pair_blocks(n_symbols, shards) if b > a
    ]
    assert max(o.size for o in owned) - min(o.size for o in owned) <= 1


def test_a_pair_shard_of_a_subset_and_bad_shards() -> None:
    ids = np.array([9, 3, 40, 3, 17, 25], dtype=np.int64)  # a replica's ids, unsorted, repeated
    assert [pair_shard(ids, s, 2).tolist() for s in range(2)] == [[3, 9], [17, 25, 40]]
    for shard, n in ((2, 2), (-1, 2), (0, 0)):
        with pytest.raises(ValueError, match="shard must be"):
            pair_shard(ids, shard, n)
