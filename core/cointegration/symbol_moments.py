"""Symbol-level cross-moments built in fixed tiles of symbols, so any subset of pairs can be
screened with exactly the arithmetic of the whole universe.

Symbols are grouped in tiles of ``TILE`` consecutive (global) indices; the last tile is padded
with constant columns. Every symbol-level quantity is computed per tile on a ``(T, TILE)`` array,
and every cross-moment per pair of tiles by one GEMM of fixed shape. A screen of some of the
pairs therefore loads only the tiles its pairs touch and still makes the very BLAS calls, on the
very same operands, as a screen of the whole universe: its numbers are bit-for-bit the same
without relying on how a BLAS orders sums inside a larger product.

Pairs are screened by their first (lower-index) symbol's tile ("row tiles"). A block of pairs
needs ``M[i, j]`` and ``M[j, i]`` for i in a row tile and ``M[j, j]`` for every symbol it
touches, so :class:`PairMoments` keeps the rows of the row tiles against every loaded tile, the
other tiles' rows against the row tiles only, and the diagonal: a block of the pair space holds
a band of the moment matrices, not all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

TILE = 128  # symbols per tile: fixed, so every tile GEMM has the same shape on every path


def n_tiles(n_symbols: int) -> int:
    return -(-n_symbols // TILE)


def tile_columns(closes: FloatArray, tile: int) -> FloatArray:
    """Columns of one tile as a (T, TILE) array; missing columns past the universe are 1.0
    (log 0), so padding moments are zero and never read."""
    out = np.ones((closes.shape[0], TILE))
    part = closes[:, tile * TILE : (tile + 1) * TILE]
    out[:, : part.shape[1]] = part
    return out


def prepare_tile(raw: FloatArray, *, window: int | None, log_prices: bool) -> FloatArray:
    """(Log) prices of one (T, TILE) tile over the last ``window`` bars."""
    z = np.array(raw if window is None else raw[-window:], dtype=np.float64)
    if not np.all(np.isfinite(z)):
        raise ValueError("prices contain NaN or infinite values")
    if log_prices:
        if np.any(z <= 0.0):
            raise ValueError("log prices need strictly positive prices")
        np.log(z, out=z)
    return z


@dataclass(frozen=True)
class PairMoments:
    """Cross-moments ``M[p, q, k]`` over local symbol indices, lags (or other index) last.

    Local symbols are the loaded tiles in order, row tiles first. ``rows`` holds M[p, q] for p in
    the row tiles, ``cols`` M[p, q] for p past them and q in them, ``diag`` M[p, p] for all p.
    """

    rows: FloatArray  # (n_rows, n_local, K)
    cols: FloatArray  # (n_local - n_rows, n_rows, K)
    diag: FloatArray  # (n_local, K)

    def at(self, p: IntArray, q: IntArray, width: int | None = None) -> FloatArray:
        """M[p, q, :width] per pair; p or q must be a row-tile symbol."""
        k = slice(None) if width is None else slice(0, width)
        n_rows = self.rows.shape[0]
        if self.cols.shape[0] == 0:
            return np.asarray(self.rows[p, q, k], dtype=np.float64)
        in_rows = p < n_rows
        out = np.empty((p.shape[0], self.rows.shape[2]))[:, k]
        out[in_rows] = self.rows[p[in_rows], q[in_rows], k]
        out[~in_rows] = self.cols[p[~in_rows] - n_rows, q[~in_rows], k]
        return out

    def on_diag(self, p: IntArray, width: int | None = None) -> FloatArray:
        k = slice(None) if width is None else slice(0, width)
        return np.asarray(self.diag[p, k], dtype=np.float64)


# One tile pair -> one (TILE, TILE, K) block per moment kind.
TileBlock = Callable[[int, int], Sequence[FloatArray]]


def build_pair_moments(
    n_local_tiles: int, n_row_tiles: int, widths: Sequence[int], block: TileBlock
) -> list[PairMoments]:
    """Fill one :class:`PairMoments` per moment kind from the tile-pair blocks it needs."""
    n_local, n_rows = n_local_tiles * TILE, n_row_tiles * TILE
    out = [
        PairMoments(
            np.empty((n_rows, n_local, w)),
            np.empty((n_local - n_rows, n_rows, w)),
            np.empty((n_local, w)),
        )
        for w in widths
    ]
    span = [slice(t * TILE, (t + 1) * TILE) for t in range(n_local_tiles)]
    diag = np.arange(TILE)
    for a in range(n_local_tiles):
        for b in range(n_local_tiles):
            if a >= n_row_tiles and b >= n_row_tiles and a != b:
                continue  # neither symbol's tile is a row tile: no pair needs it
            blocks = block(a, b)
            for mom, blk in zip(out, blocks, strict=True):
                if a < n_row_tiles:
                    mom.rows[span[a], span[b]] = blk
                elif b < n_row_tiles:
                    mom.cols[
                        slice((a - n_row_tiles) * TILE, (a - n_row_tiles + 1) * TILE), span[b]
                    ] = blk
                if a == b:
                    mom.diag[span[a]] = blk[diag, diag]
    return out


@dataclass(frozen=True)
class SymbolMoments:
    """What the Engle-Granger engine reads: per-symbol centred prices and pair moments."""

    centered: FloatArray  # (T, n_local) prices minus their sample mean
    mean: FloatArray  # (n_local,)
    cross: PairMoments  # K=1: full-sample centred cross products
    diff_diff: PairMoments  # [i, j, k] = sum_{u=k}^{E} D[u,i] D[u-k,j]
    level_diff: PairMoments  # [i, j, k] = sum_{s=k}^{E} Z[s,i] D[s-k,j]
    level_level: PairMoments  # K=1: sum_{s=0}^{E} Z[s,i] Z[s,j]


def symbol_moments(tiles: Sequence[FloatArray], maxlag: int, n_row_tiles: int) -> SymbolMoments:
    """Moments of the local (log) price tiles, each a contiguous (T, TILE) array."""
    t_len = tiles[0].shape[0]
    count = len(tiles)
    last = t_len - 2  # E, index of the last difference
    means = [tile.mean(axis=0) for tile in tiles]
    zc = [np.ascontiguousarray(tile - mean) for tile, mean in zip(tiles, means, strict=True)]
    d = [np.diff(tile, axis=0) for tile in zc]

    def block(a: int, b: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        dd = np.empty((maxlag + 1, TILE, TILE))
        ld = np.empty_like(dd)
        for k in range(maxlag + 1):
            np.matmul(d[a][k:].T, d[b][: t_len - 1 - k], out=dd[k])
        # Summation by parts (Z[s] = Z[s-1] + D[s-1]) turns every level-lag moment into the
        # previous one plus a diff-diff moment and a rank-one end term: one GEMM, not m+1.
        np.matmul(zc[a][: t_len - 1].T, d[b], out=ld[0])
        for k in range(1, maxlag + 1):
            np.add(ld[k - 1], dd[k - 1], out=ld[k])
            ld[k] -= np.outer(zc[a][t_len - 1], d[b][last - k + 1])
        cross = zc[a].T @ zc[b]
        level = cross - np.outer(zc[a][t_len - 1], zc[b][t_len - 1])
        return (cross[:, :, None], dd.transpose(1, 2, 0), ld.transpose(1, 2, 0), level[:, :, None])

    cross, dd, ld, level = build_pair_moments(
        count, n_row_tiles, (1, maxlag + 1, maxlag + 1, 1), block
    )
    return SymbolMoments(np.concatenate(zc, axis=1), np.concatenate(means), cross, dd, ld, level)


def split_tiles(z: FloatArray) -> list[FloatArray]:
    """A (T, N) matrix of already prepared prices as whole tiles, padded with zero columns."""
    out = []
    for t in range(n_tiles(z.shape[1])):
        tile = np.zeros((z.shape[0], TILE))
        part = z[:, t * TILE : (t + 1) * TILE]
        tile[:, : part.shape[1]] = part
        out.append(tile)
    return out
