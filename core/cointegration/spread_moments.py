"""Half-life and Hurst exponent of many pair spreads from shared symbol-level moments.

Same numbers as :func:`diagnostics.half_life` and :func:`diagnostics.hurst_exponent` applied to
each spread ``z[:, a] - hedge_ratio * z[:, b] (- intercept)``, without building the spreads:
every sum they need is a bilinear form in the two legs. One GEMM per Hurst lag over the symbol
matrix is shared by all pairs (and both orderings), then each pair costs a few gathers per lag.
The intercept drops out of both statistics (they only use differences or centred values).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_PAIR_BLOCK = 16384  # pairs per gather block: bounds the (lags, pairs) temporaries


def _bilinear_sym(mat: FloatArray, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """sum (u_a - beta u_b)(v_a - beta v_b) for moments ``mat[..., i, j] = sum u_i v_j``."""
    cross = mat[..., a, b] + mat[..., b, a]
    return np.asarray(mat[..., a, a] - beta * cross + beta * beta * mat[..., b, b])


def pair_half_life(z: FloatArray, a: IntArray, b: IntArray, beta: FloatArray) -> FloatArray:
    """:func:`diagnostics.half_life` of each spread ``z[:, a] - beta * z[:, b]``."""
    if z.shape[0] < 3:
        raise ValueError(f"half-life needs at least 3 observations, got {z.shape[0]}")
    lagged = z[:-1] - z[:-1].mean(axis=0)
    change = np.diff(z, axis=0)
    change -= change.mean(axis=0)
    lag_change = lagged.T @ change
    lag_lag = lagged.T @ lagged
    lam = np.empty(a.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, a.shape[0], _PAIR_BLOCK):
            sl = slice(lo, lo + _PAIR_BLOCK)
            num = _bilinear_sym(lag_change, a[sl], b[sl], beta[sl])
            lam[sl] = num / _bilinear_sym(lag_lag, a[sl], b[sl], beta[sl])
        out = np.where(lam < 0.0, -np.log(2.0) / lam, np.inf)
    return np.where(np.isnan(lam), np.nan, out)


def pair_hurst(
    z: FloatArray, a: IntArray, b: IntArray, beta: FloatArray, max_lag: int = 20
) -> FloatArray:
    """:func:`diagnostics.hurst_exponent` of each spread ``z[:, a] - beta * z[:, b]``.

    For lag tau the population variance of ``s[t + tau] - s[t]`` is ``Q / n - mean^2`` with
    ``Q`` the bilinear form of the symbols' lagged-difference cross products.
    """
    t_len, n_sym = z.shape
    max_lag = min(max_lag, t_len // 2)
    if max_lag < 3:
        raise ValueError(f"series of {t_len} bars is too short for a Hurst estimate")
    taus = np.arange(2, max_lag + 1)
    zc = z - z.mean(axis=0)  # differences are unchanged; keeps the GEMM inputs small
    sq = np.empty((taus.size, n_sym, n_sym))
    mean = np.empty((taus.size, n_sym))
    for row, tau in enumerate(taus.tolist()):
        step = zc[tau:] - zc[:-tau]
        np.matmul(step.T, step, out=sq[row])
        mean[row] = step.mean(axis=0)
    n_obs = (t_len - taus).astype(np.float64)[:, None]
    log_tau = np.log(taus.astype(np.float64))
    lt = (log_tau - log_tau.mean())[:, None]
    slope = np.empty(a.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, a.shape[0], _PAIR_BLOCK):
            sl = slice(lo, lo + _PAIR_BLOCK)
            drift = mean[:, a[sl]] - beta[sl] * mean[:, b[sl]]
            var = _bilinear_sym(sq, a[sl], b[sl], beta[sl]) / n_obs - drift * drift
            log_std = 0.5 * np.log(np.maximum(var, 0.0))
            slope[sl] = (lt * (log_std - log_std.mean(axis=0))).sum(axis=0) / (lt * lt).sum()
    return slope
