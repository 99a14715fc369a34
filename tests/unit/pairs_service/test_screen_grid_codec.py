"""What the replica grid writes to and reads from `screen_blocks` is the block, bit for bit."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from core.cointegration.blocks import (
    BlockStats,
    ScreenOptions,
    block_input,
    pair_blocks,
    screen_block,
)
from core.cointegration.symbol_moments import TILE
from services.pairs.screen_grid import (
    decode_input,
    decode_options,
    decode_stats,
    encode_input,
    encode_options,
    encode_stats,
)
from tests.unit.pairs.synthetic import random_universe


def test_a_block_and_its_statistics_survive_the_table_unchanged() -> None:
    prices = random_universe(5, n_bars=90, n_symbols=TILE + 30)
    prices[:, 40] = 42.0  # untestable: NaN statistics must come back as NaN
    opts = ScreenOptions(window=80, autolag="bic", maxlag=3, hurst_max_lag=12)
    for start, stop in pair_blocks(prices.shape[1], 3):
        inp = block_input(prices, start, stop)
        back = decode_input(encode_input(inp))
        assert (back.n_symbols, back.n_bars, back.start, back.stop, back.tiles,
                back.n_row_tiles) == (inp.n_symbols, inp.n_bars, inp.start, inp.stop,
                                      inp.tiles, inp.n_row_tiles)  # fmt: skip
        for a, b in zip(back.closes, inp.closes, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        assert decode_options(encode_options(opts)) == opts
        stats = screen_block(back, opts)
        again = decode_stats(encode_stats(stats))
        for f in fields(BlockStats):
            x, y = getattr(stats, f.name), getattr(again, f.name)
            if isinstance(x, np.ndarray):
                assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
            else:
                assert x == y
        assert np.array_equal(stats.pvalue, screen_block(inp, opts).pvalue, equal_nan=True)


def test_an_empty_block_round_trips() -> None:
    prices = random_universe(6, n_bars=60, n_symbols=5)
    inp = block_input(prices, 4, 4)  # no pair ids
    stats = screen_block(inp, ScreenOptions())
    assert decode_stats(encode_stats(stats)).a_index.size == 0
