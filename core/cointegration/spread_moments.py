"""Half-life and Hurst exponent of many pair spreads from shared symbol-level moments.

Same numbers as :func:`diagnostics.half_life` and :func:`diagnostics.hurst_exponent` applied to
each spread ``z[:, a] - hedge_ratio * z[:, b] (- intercept)``, without building the spreads:
every sum they need is a bilinear form in the two legs. One GEMM per Hurst lag over the symbol
matrix is shared by all pairs (and both orderings), then each pair costs a few gathers per lag.
The intercept drops out of both statistics (they only use differences or centred values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.cointegration.symbol_moments import (
    TILE,
    PairMoments,
    build_pair_moments,
    n_tiles,
    split_tiles,
)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_PAIR_BLOCK = 16384  # pairs per gather block: bounds the (pairs, lags) temporaries


@dataclass(frozen=True)
class SpreadMoments:
    """Symbol moments of half-life and Hurst over local tiles (see ``symbol_moments.py``)."""

    lag_change: PairMoments  # K=1: centred lagged level x centred change
    lag_lag: PairMoments  # K=1: centred lagged level x itself
    step_sq: PairMoments  # K=taus: tau-step differences' cross products
    step_mean: FloatArray  # (n_local, taus): tau-step differences' means
    taus: IntArray
    t_len: int


def spread_moments(
    tiles: Sequence[FloatArray], n_row_tiles: int, max_lag: int = 20
) -> SpreadMoments:
    """Moments of the local (log) price tiles, each a contiguous (T, TILE) array."""
    t_len = tiles[0].shape[0]
    if t_len < 3:
        raise ValueError(f"half-life needs at least 3 observations, got {t_len}")
    max_lag = min(max_lag, t_len // 2)
    if max_lag < 3:
        raise ValueError(f"series of {t_len} bars is too short for a Hurst estimate")
    taus = np.arange(2, max_lag + 1)
    lagged = [z[:-1] - z[:-1].mean(axis=0) for z in tiles]
    change = [np.diff(z, axis=0) for z in tiles]
    for c in change:
        c -= c.mean(axis=0)
    zc = [z - z.mean(axis=0) for z in tiles]  # differences are unchanged; keeps GEMMs small
    steps = [[np.ascontiguousarray(c[tau:] - c[:-tau]) for tau in taus.tolist()] for c in zc]
    step_mean = np.empty((len(tiles) * TILE, taus.size))
    for t, tile_steps in enumerate(steps):
        for row, step in enumerate(tile_steps):
            step_mean[t * TILE : (t + 1) * TILE, row] = step.mean(axis=0)

    def block(a: int, b: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        sq = np.empty((TILE, TILE, taus.size))
        for row in range(taus.size):
            sq[:, :, row] = steps[a][row].T @ steps[b][row]
        lc = lagged[a].T @ change[b]
        ll = lagged[a].T @ lagged[b]
        return lc[:, :, None], ll[:, :, None], sq

    lc, ll, sq = build_pair_moments(len(tiles), n_row_tiles, (1, 1, taus.size), block)
    return SpreadMoments(lc, ll, sq, step_mean, taus, t_len)


def _bilinear_sym(mom: PairMoments, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """sum (u_a - beta u_b)(v_a - beta v_b) per pair for moments ``M[i, j] = sum u_i v_j``."""
    bb = beta[:, None]
    cross = mom.at(a, b) + mom.at(b, a)
    return np.asarray(mom.on_diag(a) - bb * cross + bb * bb * mom.on_diag(b))


def half_life_of(sm: SpreadMoments, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """:func:`diagnostics.half_life` of each spread ``z[:, a] - beta * z[:, b]``."""
    lam = np.empty(a.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, a.shape[0], _PAIR_BLOCK):
            sl = slice(lo, lo + _PAIR_BLOCK)
            num = _bilinear_sym(sm.lag_change, a[sl], b[sl], beta[sl])[:, 0]
            lam[sl] = num / _bilinear_sym(sm.lag_lag, a[sl], b[sl], beta[sl])[:, 0]
        out = np.where(lam < 0.0, -np.log(2.0) / lam, np.inf)
    return np.where(np.isnan(lam), np.nan, out)


def _sum_lags(values: FloatArray) -> FloatArray:
    """Sum over the last axis one lag at a time: the order does not depend on the batch."""
    total = values[:, 0].copy()
    for k in range(1, values.shape[1]):
        total += values[:, k]
    return total


def hurst_of(sm: SpreadMoments, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """:func:`diagnostics.hurst_exponent` of each spread ``z[:, a] - beta * z[:, b]``.

    For lag tau the population variance of ``s[t + tau] - s[t]`` is ``Q / n - mean^2`` with
    ``Q`` the bilinear form of the symbols' lagged-difference cross products.
    """
    n_obs = (sm.t_len - sm.taus).astype(np.float64)
    log_tau = np.log(sm.taus.astype(np.float64))
    lt = log_tau - log_tau.mean()
    slope = np.empty(a.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, a.shape[0], _PAIR_BLOCK):
            sl = slice(lo, lo + _PAIR_BLOCK)
            drift = sm.step_mean[a[sl]] - beta[sl, None] * sm.step_mean[b[sl]]
            var = _bilinear_sym(sm.step_sq, a[sl], b[sl], beta[sl]) / n_obs - drift * drift
            log_std = 0.5 * np.log(np.maximum(var, 0.0))
            centred = log_std - (_sum_lags(log_std) / lt.size)[:, None]
            slope[sl] = _sum_lags(lt * centred) / (lt * lt).sum()
    return slope


def pair_half_life(z: FloatArray, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """Half-lives of pairs of the (T, N) matrix ``z`` (all of its symbols loaded)."""
    return half_life_of(spread_moments(split_tiles(z), n_tiles(z.shape[1])), a, b, beta)


def pair_hurst(
    z: FloatArray, a: IntArray, b: IntArray, beta: FloatArray, max_lag: int = 20
) -> FloatArray:
    """Hurst exponents of pairs of the (T, N) matrix ``z`` (all of its symbols loaded)."""
    sm = spread_moments(split_tiles(z), n_tiles(z.shape[1]), max_lag)
    return hurst_of(sm, a, b, beta)
