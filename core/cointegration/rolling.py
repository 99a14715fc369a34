"""Per-bar update of the Engle-Granger statistics of every pair, for a fixed ADF lag.

For a window of T bars and a fixed lag k, the hedge regression and the ADF regression of every
pair are functions of window sums that slide in O(1) per pair and bar:

- hedge (OLS over the T bars): sums of z and z^2 per symbol and of z_i z_j per pair;
- ADF (rows s = k..T-2 of ``d_s = rho e_s + sum_a phi_a d_{s-a}``): with the row vector
  ``w_s = [dz_{s-1}, .., dz_{s-k}, z_s, dz_s]`` of each symbol, the residual is
  ``e_s = z_s(y) - beta z_s(x) - alpha`` and its differences ``dz(y) - beta dz(x)``, so the ADF Gram is a quadratic form in ``sum w(y) w(y)'``, ``sum w(y) w(x)'``,
  ``sum w(x) w(x)'``, ``sum w`` and the row count, evaluated at the new (beta, alpha).

Sliding by one bar removes the oldest ADF row and hedge bar and adds the new ones. Levels are
stored minus a per-symbol offset fixed at build time (the regression is unchanged by it and the
sums keep small magnitudes); the intercept is reported in the caller's units. Equal to a full
refit (``screen_arrays(window, autolag=None, maxlag=k)``, statsmodels ``coint`` with
``autolag=None, maxlag=k``) up to rounding; the update only adds and subtracts, so rounding
grows slowly with the number of bars slid (``rebuild`` resets it). Half-life and Hurst are not
part of the update (the screen computes them on a full window), and (near-)collinear legs are
not special-cased as the screen does (statistic -inf there, a large finite value here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.cointegration.engle_granger import prepare_prices, resolve_maxlag
from core.cointegration.mackinnon import mackinnon_pvalue

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_PAIR_CHUNK = 8192  # pairs per batched product when building: bounds the temporaries


@dataclass(frozen=True)
class RollingScreen:
    """Per pair (i < j), the ordering with the more negative ADF statistic (as the screen)."""

    a_index: IntArray
    b_index: IntArray
    hedge_ratio: FloatArray
    intercept: FloatArray
    adf_stat: FloatArray
    pvalue: FloatArray


def _rows(z: FloatArray, lag: int) -> FloatArray:
    """ADF rows (T-1-lag, N, lag+2) for s = lag..T-2 in the Cholesky's column order:
    [dz_{s-1}, .., dz_{s-lag}, z_s, dz_s] (lags, level, response)."""
    d = np.diff(z, axis=0)
    n_rows = d.shape[0] - lag
    out = np.empty((n_rows, z.shape[1], lag + 2))
    for a in range(1, lag + 1):
        out[:, :, a - 1] = d[lag - a : lag - a + n_rows]
    out[:, :, lag] = z[lag : lag + n_rows]
    out[:, :, lag + 1] = d[lag : lag + n_rows]
    return out


class RollingPairStats:
    """Sliding sufficient statistics of every pair's hedge and fixed-lag ADF regressions."""

    def __init__(self, prices: ArrayLike, lag: int, *, log_prices: bool = True) -> None:
        self.log_prices = log_prices
        self.lag = lag
        self.rebuild(prices)

    def rebuild(self, prices: ArrayLike) -> None:
        """All sums from scratch from a (T, N) window of prices (resets accumulated rounding)."""
        z = prepare_prices(prices, log_prices=self.log_prices)
        resolve_maxlag(z.shape[0], self.lag)  # the lag must fit the window
        self.offset = z.mean(axis=0)
        first, second = np.triu_indices(z.shape[1], k=1)
        self.first, self.second = first.astype(np.intp), second.astype(np.intp)
        zs = z - self.offset
        self.window = zs.copy()
        self.sum_z = zs.sum(axis=0)
        self.sum_zz = np.einsum("tn,tn->n", zs, zs)
        w = _rows(zs, self.lag)
        self.n_rows = w.shape[0]
        self.sum_w = w.sum(axis=0)
        self.sum_ww = np.einsum("snp,snq->npq", w, w)
        wt = np.ascontiguousarray(w.transpose(1, 2, 0))  # (N, q, rows)
        self.sum_zz_pair = np.empty(self.first.size)
        self.sum_wpair = np.empty((self.first.size, self.lag + 2, self.lag + 2))
        for lo in range(0, self.first.size, _PAIR_CHUNK):
            sl = slice(lo, lo + _PAIR_CHUNK)
            i, j = self.first[sl], self.second[sl]
            self.sum_zz_pair[sl] = np.einsum("ti,ti->i", zs[:, i], zs[:, j])
            self.sum_wpair[sl] = np.matmul(wt[i], wt[j].transpose(0, 2, 1))

    def update(self, new_row: ArrayLike) -> None:
        """Slide the window by one bar: ``new_row`` holds every symbol's new price."""
        new = prepare_prices(
            np.asarray(new_row, dtype=np.float64)[None, :], log_prices=self.log_prices
        )
        z_new = new[0] - self.offset
        zs, k = self.window, self.lag
        d_old = zs[1 : k + 2] - zs[: k + 1]  # dz_0 .. dz_k
        old = np.concatenate([d_old[:k][::-1].T, zs[k][:, None], d_old[k][:, None]], axis=1)
        d_new = np.diff(np.vstack([zs[-k - 1 :], z_new[None, :]]), axis=0)  # .. dz_{T-1}
        new_w = np.concatenate([d_new[:k][::-1].T, zs[-1][:, None], d_new[k][:, None]], axis=1)
        self.sum_w += new_w - old
        self.sum_ww += new_w[:, :, None] * new_w[:, None, :] - old[:, :, None] * old[:, None, :]
        i, j = self.first, self.second
        self.sum_wpair += new_w[i][:, :, None] * new_w[j][:, None, :]
        self.sum_wpair -= old[i][:, :, None] * old[j][:, None, :]
        z_old = zs[0]
        self.sum_z += z_new - z_old
        self.sum_zz += z_new * z_new - z_old * z_old
        self.sum_zz_pair += z_new[i] * z_new[j] - z_old[i] * z_old[j]
        self.window = np.vstack([zs[1:], z_new[None, :]])

    def _ordering(self, y: IntArray, x: IntArray, cross: FloatArray) -> tuple[FloatArray, ...]:
        """beta, intercept (caller's units) and ADF statistic of y on x; ``cross`` is
        sum w(y) w(x)' per pair."""
        t_len, k, n = self.window.shape[0], self.lag, self.n_rows
        with np.errstate(divide="ignore", invalid="ignore"):
            var_x = self.sum_zz[x] - self.sum_z[x] ** 2 / t_len
            cov = self.sum_zz_pair - self.sum_z[y] * self.sum_z[x] / t_len
            beta = cov / var_x
            alpha = (self.sum_z[y] - beta * self.sum_z[x]) / t_len  # in offset units
            b, a = beta[:, None, None], alpha[:, None, None]
            q = self.sum_ww[y] - b * (cross + cross.transpose(0, 2, 1)) + b * b * self.sum_ww[x]
            u = self.sum_w[y] - beta[:, None] * self.sum_w[x]
            q[:, k, :] -= alpha[:, None] * u  # the intercept enters the level column only
            q[:, :, k] -= alpha[:, None] * u
            q[:, k, k] += (a * a)[:, 0, 0] * n
            chol = _cholesky(q)
            stat = chol[:, -1, -2] / (chol[:, -1, -1] / np.sqrt(n - (k + 1)))
        intercept = alpha + self.offset[y] - beta * self.offset[x]
        return beta, intercept, np.asarray(stat, dtype=np.float64)

    def result(self) -> RollingScreen:
        """Both orderings of every pair, the better one reported (the screen's rule)."""
        i, j = self.first, self.second
        fb, fa, fs = self._ordering(i, j, self.sum_wpair)
        bb, ba, bs = self._ordering(j, i, self.sum_wpair.transpose(0, 2, 1))
        use_bwd = np.where(np.isnan(fs), ~np.isnan(bs), bs < fs)
        stat = np.where(use_bwd, bs, fs)
        return RollingScreen(
            a_index=np.where(use_bwd, j, i).astype(np.intp),
            b_index=np.where(use_bwd, i, j).astype(np.intp),
            hedge_ratio=np.where(use_bwd, bb, fb),
            intercept=np.where(use_bwd, ba, fa),
            adf_stat=stat,
            pvalue=mackinnon_pvalue(stat, trend="c", n_series=2),
        )


def _cholesky(gram: FloatArray) -> FloatArray:
    """Lower Cholesky factors of a stack of small matrices, one entry at a time across the
    stack (one LAPACK call per 4x4 matrix would dominate); NaN where a matrix is not PD.

    Works on a (n, n, P) copy so that each entry's values over the stack are contiguous.
    """
    g = np.ascontiguousarray(gram.transpose(1, 2, 0))
    n = g.shape[0]
    chol = np.zeros_like(g)
    for col in range(n):
        diag = g[col, col] - _dot(chol[col, :col], chol[col, :col])
        root = np.sqrt(np.where(diag > 0.0, diag, np.nan))
        chol[col, col] = root
        for row in range(col + 1, n):
            chol[row, col] = (g[row, col] - _dot(chol[row, :col], chol[col, :col])) / root
    return np.asarray(chol.transpose(2, 0, 1), dtype=np.float64)


def _dot(left: FloatArray, right: FloatArray) -> FloatArray:
    """Per-stack-entry dot product of (m, P) rows, summed in index order."""
    total = np.zeros(left.shape[1])
    for a in range(left.shape[0]):
        total += left[a] * right[a]
    return total
