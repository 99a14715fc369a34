"""Johansen trace and maximum-eigenvalue tests for many pairs, batched.

Reproduces ``statsmodels.tsa.vector_ar.vecm.coint_johansen(endog, det_order, k_ar_diff)`` for
2-variable systems. The statsmodels recipe: detrend the levels by a polynomial of order
``det_order`` in ``linspace(-1, 1, T)`` (none for -1), then regress the differences ``dx_t`` and
the levels ``x_{t-k}`` (statsmodels' own timing, ``endog[1 : T - k]``) on ``k_ar_diff`` lagged
differences (plus a constant when ``det_order >= 0``), and solve the eigenproblem of the residual
moment matrices. Here every per-pair regression is a Schur complement of one symbol-level Gram
matrix of [lagged differences, differences, levels], so no residual series is formed per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from statsmodels.tsa.coint_tables import c_sja, c_sjt

from core.cointegration.engle_granger import prepare_prices

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]


@dataclass(frozen=True)
class JohansenResult:
    y_index: IntArray
    x_index: IntArray
    eigenvalues: FloatArray  # (P, 2), descending
    trace_stat: FloatArray  # (P, 2): H0 rank <= 0, rank <= 1
    max_eig_stat: FloatArray  # (P, 2)
    trace_crit: FloatArray  # (2, 3): 90 %, 95 %, 99 %
    max_eig_crit: FloatArray  # (2, 3)
    nobs: int  # rows of the residual regressions


def _detrend(z: FloatArray, order: int) -> FloatArray:
    if order < 0:
        return z
    trend = np.vander(np.linspace(-1.0, 1.0, z.shape[0]), order + 1)
    coef, *_ = np.linalg.lstsq(trend, z, rcond=None)
    return np.asarray(z - trend @ coef, dtype=np.float64)


def johansen_pairs(
    prices: ArrayLike,
    y_index: ArrayLike,
    x_index: ArrayLike,
    *,
    det_order: int = 0,
    k_ar_diff: int = 1,
    log_prices: bool = True,
) -> JohansenResult:
    """Johansen statistics of the system [prices[:, y], prices[:, x]] for each pair."""
    if det_order not in (-1, 0, 1):
        raise ValueError(f"det_order must be -1, 0 or 1 (critical values exist), got {det_order}")
    if k_ar_diff < 0:
        raise ValueError(f"k_ar_diff must be >= 0, got {k_ar_diff}")
    z = _detrend(prepare_prices(prices, log_prices=log_prices), det_order)
    t_len, n_sym = z.shape
    nobs = t_len - 1 - k_ar_diff
    if nobs < 2 * k_ar_diff + 6:
        raise ValueError(f"{t_len} bars are too few for k_ar_diff={k_ar_diff}")
    y = np.asarray(y_index, dtype=np.intp).ravel()
    x = np.asarray(x_index, dtype=np.intp).ravel()
    dx = np.diff(z, axis=0)
    blocks = [dx[k_ar_diff - lag : t_len - 1 - lag] for lag in range(1, k_ar_diff + 1)]
    blocks += [dx[k_ar_diff:], z[1 : t_len - k_ar_diff]]
    design = np.concatenate(blocks, axis=1)  # symbol s of block b sits in column b * N + s
    if det_order >= 0:
        # statsmodels demeans every regression; partialling out a constant is the same thing.
        design = design - design.mean(axis=0)
    gram = design.T @ design

    def cols(block: int) -> IntArray:
        return np.stack([block * n_sym + y, block * n_sym + x], axis=1)

    target = np.concatenate([cols(k_ar_diff), cols(k_ar_diff + 1)], axis=1)  # dx_y dx_x lx_y lx_x
    g_tt = gram[target[:, :, None], target[:, None, :]]
    if k_ar_diff:
        nuisance = np.concatenate([cols(b) for b in range(k_ar_diff)], axis=1)
        g_nn = gram[nuisance[:, :, None], nuisance[:, None, :]]
        g_nt = gram[nuisance[:, :, None], target[:, None, :]]
        g_tt = g_tt - np.einsum("pij,pik->pjk", g_nt, np.linalg.solve(g_nn, g_nt))
    moments = g_tt / nobs
    s00 = moments[:, :2, :2]
    s0k = moments[:, :2, 2:]
    skk = moments[:, 2:, 2:]
    sig = np.einsum("pji,pjk->pik", s0k, np.linalg.solve(s00, s0k))
    eig = np.sort(np.linalg.eigvals(np.linalg.solve(skk, sig)).real, axis=1)[:, ::-1]
    log_rest = np.log(1.0 - eig)
    trace = -nobs * np.cumsum(log_rest[:, ::-1], axis=1)[:, ::-1]
    return JohansenResult(
        y_index=y,
        x_index=x,
        eigenvalues=np.ascontiguousarray(eig),
        trace_stat=np.ascontiguousarray(trace),
        max_eig_stat=-nobs * log_rest,
        trace_crit=np.array([c_sjt(2 - i, det_order) for i in range(2)], dtype=np.float64),
        max_eig_crit=np.array([c_sja(2 - i, det_order) for i in range(2)], dtype=np.float64),
        nobs=nobs,
    )
