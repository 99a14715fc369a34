"""Engle-Granger cointegration test vectorised over many pairs of one price matrix.

Matches ``statsmodels.tsa.stattools.coint(y, x, trend="c", autolag=..., maxlag=...)``:

1. Hedge regression ``y = alpha + hedge_ratio * x + e`` by OLS on the whole sample.
2. ADF regression on the residual spread ``e`` with no deterministic terms:
   ``d_s = rho * e_s + sum_{i<=p} phi_i d_{s-i}`` with ``d_s = e_{s+1} - e_s``.
3. Lag selection (``autolag`` "aic", "bic", "t-stat") compares lags 0..maxlag on the common
   sample of ``T - 1 - maxlag`` rows, then the chosen lag ``p`` is refitted on its own longer
   sample of ``T - 1 - p`` rows (the statsmodels rule). ``autolag=None`` uses ``p = maxlag``.
   The default maxlag is ``min(T // 2 - 1, ceil(12 * (T / 100) ** 0.25))``.
4. p-value: MacKinnon with N=2, trend "c"; critical values for ``nobs = T - 1``.
5. Pairs whose hedge regression has R^2 >= 1 - 100 * sqrt(eps) are reported as statsmodels does
   (statistic -inf, p-value 0) with lag -1 (no ADF regression was run).

How it is fast: every sum that enters an ADF Gram matrix is a bilinear form in (y, x) because
``e = y_c - beta * x_c``. The full-sample sums of ``d_u d_{u-k}`` and ``e_s d_{s-k}`` are read
off symbol-level lagged cross-moment matrices (one GEMM per lag and tile pair for the difference
moments; the level moments follow by summation by parts), shared by all pairs and both orderings
and stored lags-last so a pair's moments are contiguous. They are built in fixed tiles of
symbols (``symbol_moments.py``) so that a block of the pairs gets the whole screen's numbers. A regression window's Gram then differs from the
full sums only by 2*maxlag edge rows (the first regression rows and the phantom rows past the
end); they are Hankel windows of ~2*maxlag residual differences, so one strided copy and one
batched GEMM per chunk of pairs remove them. One Cholesky factor of the selection Gram
``[level, lag_1..lag_m, response]`` gives the residual sum of squares of every nested lag model
at once. The refit on each pair's own sample runs as a second pass in a few batched Gram widths
(unused lag columns become unit vectors) with the level regressor placed last, whose t-value is
``L[-1, -2] / s``. Chunks are small (512 pairs) so per-chunk temporaries stay cache-sized and are
reused by the allocator instead of page-faulted in.

Orderings: both "y on x" and "x on y" are separate tests with different hedge ratios. Callers
choose the ordering; :func:`engle_granger_all_pairs` returns both. The universe screen reports,
per unordered pair, the ordering with the more negative ADF statistic (see ``screen.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.cointegration.mackinnon import mackinnon_critical_values, mackinnon_pvalue
from core.cointegration.symbol_moments import (
    PairMoments,
    SymbolMoments,
    n_tiles,
    split_tiles,
    symbol_moments,
)

Autolag = Literal["aic", "bic", "t-stat"] | None
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_COLLINEAR_RSQ = 1.0 - 100.0 * math.sqrt(np.finfo(np.float64).eps)
_TSTAT_STOP = 1.6448536269514722  # statsmodels' 5 % one-sided normal quantile
_AUTOLAG_CHOICES = ("aic", "bic", "t-stat")


def default_maxlag(nobs: int) -> int:
    """statsmodels' default ADF maxlag for a residual series of ``nobs`` observations."""
    maxlag = min(nobs // 2 - 1, math.ceil(12.0 * math.pow(nobs / 100.0, 0.25)))
    if maxlag < 0:
        raise ValueError(f"sample of {nobs} observations is too short for an ADF regression")
    return maxlag


def resolve_maxlag(nobs: int, maxlag: int | None) -> int:
    if maxlag is None:
        return default_maxlag(nobs)
    if maxlag < 0:
        raise ValueError(f"maxlag must be >= 0, got {maxlag}")
    if maxlag > nobs // 2 - 1:
        raise ValueError(f"maxlag={maxlag} too large for {nobs} observations (max {nobs // 2 - 1})")
    return maxlag


def prepare_prices(prices: ArrayLike, *, log_prices: bool) -> FloatArray:
    """Validate a (T, N) price matrix and return float64 (log) prices."""
    z = np.asarray(prices, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"prices must be a 2-D (bars x symbols) array, got shape {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ValueError("prices contain NaN or infinite values")
    if log_prices:
        if np.any(z <= 0.0):
            raise ValueError("log prices need strictly positive prices")
        z = np.log(z)
    return z


@dataclass(frozen=True)
class EngleGrangerResult:
    """Per-pair results; arrays are aligned with ``y_index`` (dependent) / ``x_index``."""

    y_index: IntArray
    x_index: IntArray
    hedge_ratio: FloatArray
    intercept: FloatArray
    adf_stat: FloatArray
    pvalue: FloatArray
    lag: IntArray
    maxlag: int
    nobs: int
    critical_values: FloatArray  # 1 %, 5 %, 10 %, shared by all pairs (depends on T only)


def _bilinear(
    mom: PairMoments, y: IntArray, x: IntArray, beta: FloatArray, width: int | None = None
) -> FloatArray:
    """sum over (y - beta x) (y - beta x)-type products from symbol moments: (P, K)."""
    b = beta[:, None]
    cross = mom.at(y, x, width) + mom.at(x, y, width)
    cross *= b
    out = mom.on_diag(x, width) * (b * b)
    out -= cross
    out += mom.on_diag(y, width)
    return out


def _moment_index(m: int) -> IntArray:
    """Gather table from the per-pair vector [F_0..F_m, G_0..G_m, H] to the padded Gram ``A``.

    Regressor order [level, lag_1..lag_m, response]; ``F_k`` is the full-sample sum of
    ``d_u d_{u-k}``, ``G_k`` of ``e_s d_{s-k}``, ``H`` of ``e_s^2`` over s = 0..E.
    """
    diff_id = np.r_[np.arange(1, m + 1), 0]  # lag of each column after the level column
    idx = np.empty((m + 2, m + 2), dtype=np.intp)
    idx[1:, 1:] = np.abs(diff_id[:, None] - diff_id[None, :])
    idx[0, 1:] = idx[1:, 0] = m + 1 + diff_id
    idx[0, 0] = 2 * m + 2
    return idx


def _selection_gram(
    sm: SymbolMoments,
    y: IntArray,
    x: IntArray,
    beta: FloatArray,
    m: int,
    start: IntArray | None = None,
) -> FloatArray:
    """Gram over rows s = m..E of [level, lag_1..lag_m, response] (regression rows, not lags).

    ``start`` (per pair, <= m) extends the sample to rows s = start..E instead.

    ``A`` (read off the symbol moments) is the Gram over s = 0..E with differences before the
    sample taken as zero, plus m phantom rows s = E+1..E+m that ``F_k`` counts beyond the end.
    The result is ``A - W'W`` with W the 2m edge rows: regression rows s = 0..m-1 and the phantom
    rows. Both halves are Hankel windows of a reversed, zero-padded vector of edge differences,
    so W is a strided copy (no index gather) and W'W one batched GEMM.
    """
    t_len = sm.centered.shape[0]
    n_pairs = y.shape[0]
    moments = np.empty((n_pairs, 2 * m + 3))
    moments[:, : m + 1] = _bilinear(sm.diff_diff, y, x, beta, m + 1)
    moments[:, m + 1 : 2 * m + 2] = _bilinear(sm.level_diff, y, x, beta, m + 1)
    moments[:, 2 * m + 2] = _bilinear(sm.level_level, y, x, beta)[:, 0]
    gram = np.take(moments, _moment_index(m), axis=1)
    if m == 0:
        return gram
    zc = sm.centered
    b = beta[:, None]
    e_head = zc[m::-1, y].T - b * zc[m::-1, x].T  # e_m, e_{m-1}, .., e_0
    e_tail = zc[: t_len - 2 - m : -1, y].T - b * zc[: t_len - 2 - m : -1, x].T  # e_{E+1} ..
    padded = np.zeros((n_pairs, 2, 2 * m))
    np.subtract(e_head[:, :-1], e_head[:, 1:], out=padded[:, 0, :m])  # d_{m-1} .. d_0
    np.subtract(e_tail[:, :-1], e_tail[:, 1:], out=padded[:, 1, m:])  # d_E .. d_{E-m+1}
    window = np.lib.stride_tricks.sliding_window_view(padded, m + 1, axis=2)  # [.., r, lag]
    rows = np.empty((n_pairs, 2, m, m + 2))
    rows[:, :, :, 1 : m + 1] = window[:, :, :, 1:]
    rows[:, :, :, m + 1] = window[:, :, :, 0]
    rows[:, 0, :, 0] = e_head[:, 1:]
    rows[:, 1, :, 0] = 0.0
    if start is not None:  # rows s = start..m-1 stay in the sample: not subtracted
        rows[:, 0] *= (np.arange(m)[None, :] >= (m - start)[:, None])[:, :, None]
    flat = rows.reshape(n_pairs, 2 * m, m + 2)
    gram -= np.matmul(flat.transpose(0, 2, 1), flat)
    return gram


def batched_cholesky(gram: FloatArray) -> FloatArray:
    """Lower Cholesky factors of a stack of matrices; NaN rows where a matrix is not PD.

    LAPACK factors every matrix it can; a stack it rejects is halved until the failing matrices
    stand alone, so each matrix's factor never depends on which others share its stack (a
    block of the pair space gets the bits of the whole screen).
    """
    try:
        return np.asarray(np.linalg.cholesky(gram), dtype=np.float64)
    except np.linalg.LinAlgError:
        pass
    if gram.shape[0] > 1:
        half = gram.shape[0] // 2
        return np.concatenate([batched_cholesky(gram[:half]), batched_cholesky(gram[half:])])
    return _cholesky_nan(gram)


def _cholesky_nan(gram: FloatArray) -> FloatArray:
    """Column-by-column Cholesky that leaves NaN where a pivot is not positive."""
    n = gram.shape[-1]
    chol = np.zeros_like(gram)
    for j in range(n):
        row = chol[:, j, :j]
        diag = gram[:, j, j] - np.einsum("pk,pk->p", row, row)
        root = np.sqrt(np.where(diag > 0.0, diag, np.nan))
        chol[:, j, j] = root
        if j + 1 < n:
            below = gram[:, j + 1 :, j] - np.matmul(chol[:, j + 1 :, :j], row[:, :, None])[..., 0]
            chol[:, j + 1 :, j] = below / root[:, None]
    return chol


def _select_lag(chol: FloatArray, nobs: int, autolag: str) -> IntArray:
    """Lag chosen among the nested models 0..m of one common-sample Cholesky factor."""
    z = chol[:, -1, :-1]  # projections of the response on the orthogonalised regressors
    resid_ss = chol[:, -1, -1] ** 2
    # SSR of the model with regressors 0..k is the final SSR plus the later projections.
    ssr = resid_ss[:, None] + np.cumsum((z**2)[:, ::-1], axis=1)[:, ::-1]
    ssr = np.concatenate([ssr[:, 1:], resid_ss[:, None]], axis=1)
    n_reg = np.arange(1, z.shape[1] + 1)
    if autolag == "t-stat":
        tvalue = z / np.sqrt(ssr / (nobs - n_reg))
        significant = np.abs(tvalue) >= _TSTAT_STOP
        last = z.shape[1] - 1 - np.argmax(significant[:, ::-1], axis=1)
        return np.where(significant.any(axis=1), last, 0).astype(np.intp)
    half = nobs / 2.0
    llf = -half * np.log(2.0 * np.pi) - half * np.log(ssr / nobs) - half
    penalty = 2.0 * n_reg if autolag == "aic" else np.log(nobs) * n_reg
    crit = -2.0 * llf + penalty
    lags = np.argmin(np.where(np.isnan(crit), np.inf, crit), axis=1).astype(np.intp)
    return np.where(np.isnan(crit).any(axis=1), -1, lags).astype(np.intp)


def _adf_stat(
    sm: SymbolMoments, y: IntArray, x: IntArray, beta: FloatArray, lags: IntArray, width: int
) -> FloatArray:
    """ADF t-value of the level regressor, each pair with its own lag (<= width) and sample.

    Pairs of several lags share one Gram size: the Gram over s = lag..E is built with ``width``
    lag columns, and the columns of lags above a pair's own are replaced by unit vectors, which
    leave the rest of the Cholesky factor unchanged. The level column is moved after the lags so
    that its t-value is ``L[-1, -2] / s``.
    """
    t_len = sm.centered.shape[0]
    gram = _selection_gram(sm, y, x, beta, width, start=lags)
    unused = np.arange(1, width + 1)[None, :] > lags[:, None]
    if unused.any():
        gram[:, 1 : width + 1, :] *= ~unused[:, :, None]
        gram[:, :, 1 : width + 1] *= ~unused[:, None, :]
        diag = np.einsum("pii->pi", gram)[:, 1 : width + 1]
        diag += unused
    order = np.r_[np.arange(1, width + 1), 0, width + 1]
    chol = batched_cholesky(gram[:, order[:, None], order[None, :]])
    dof = (t_len - 1 - lags) - (lags + 1)
    return np.asarray(chol[:, -1, -2] / (chol[:, -1, -1] / np.sqrt(dof)), dtype=np.float64)


def _lag_buckets(maxlag: int) -> list[int]:
    """Gram widths for the refit: few batched calls, little padding for the common short lags."""
    return sorted({min(w, maxlag) for w in (0, 1, 2, 4, 8, 16)} | {maxlag})


def engle_granger(
    prices: ArrayLike,
    y_index: ArrayLike,
    x_index: ArrayLike,
    *,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
    log_prices: bool = True,
    chunk_size: int = 512,
) -> EngleGrangerResult:
    """Engle-Granger test of ``prices[:, y]`` on ``prices[:, x]`` for each (y, x) index pair."""
    if autolag is not None and autolag not in _AUTOLAG_CHOICES:
        raise ValueError(f"autolag must be one of {_AUTOLAG_CHOICES} or None, got {autolag!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    z = prepare_prices(prices, log_prices=log_prices)
    t_len, n_sym = z.shape
    y = np.asarray(y_index, dtype=np.intp).ravel()
    x = np.asarray(x_index, dtype=np.intp).ravel()
    if y.shape != x.shape:
        raise ValueError("y_index and x_index must have the same length")
    if y.size and (min(y.min(), x.min()) < 0 or max(y.max(), x.max()) >= n_sym):
        raise ValueError(f"pair indices must lie in 0..{n_sym - 1}")
    m = resolve_maxlag(t_len, maxlag)
    sm = symbol_moments(split_tiles(z), m, n_tiles(n_sym))
    return run_pairs(sm, y, x, t_len, m, autolag, chunk_size)


def run_pairs(
    sm: SymbolMoments,
    y: IntArray,
    x: IntArray,
    t_len: int,
    m: int,
    autolag: Autolag,
    chunk_size: int,
) -> EngleGrangerResult:
    var_y = sm.cross.on_diag(y)[:, 0]
    var_x = sm.cross.on_diag(x)[:, 0]
    cov = sm.cross.at(y, x)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = cov / var_x
        rsq = cov * cov / (var_x * var_y)
    degenerate = ~(var_x > 0.0) | ~(var_y > 0.0)
    collinear = ~degenerate & (rsq >= _COLLINEAR_RSQ)
    regular = np.flatnonzero(~degenerate & ~collinear)
    stat = np.full(y.shape[0], np.nan)
    lags = np.full(y.shape[0], -1, dtype=np.intp)
    stat[collinear] = -np.inf
    if autolag is None:
        lags[regular] = m
    else:
        for lo in range(0, regular.size, chunk_size):
            sel = regular[lo : lo + chunk_size]
            chol = batched_cholesky(_selection_gram(sm, y[sel], x[sel], beta[sel], m))
            lags[sel] = _select_lag(chol, t_len - 1 - m, autolag)
    # Second pass grouped by Gram width: a few large batched calls instead of one per lag.
    fitted = regular[lags[regular] >= 0]
    low = -1
    for width in _lag_buckets(m):
        group = fitted[(lags[fitted] > low) & (lags[fitted] <= width)]
        low = width
        for lo in range(0, group.size, chunk_size):
            sel = group[lo : lo + chunk_size]
            stat[sel] = _adf_stat(sm, y[sel], x[sel], beta[sel], lags[sel], width)
    intercept = sm.mean[y] - np.where(degenerate, np.nan, beta) * sm.mean[x]
    return EngleGrangerResult(
        y_index=y,
        x_index=x,
        hedge_ratio=np.where(degenerate, np.nan, beta),
        intercept=intercept,
        adf_stat=stat,
        pvalue=mackinnon_pvalue(stat, trend="c", n_series=2),
        lag=lags,
        maxlag=m,
        nobs=t_len,
        critical_values=mackinnon_critical_values(t_len - 1, trend="c", n_series=2),
    )


def engle_granger_all_pairs(
    prices: ArrayLike,
    *,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
    log_prices: bool = True,
    chunk_size: int = 512,
) -> tuple[EngleGrangerResult, EngleGrangerResult]:
    """Both orderings of every unordered pair i < j: (i on j, j on i), aligned row by row."""
    if autolag is not None and autolag not in _AUTOLAG_CHOICES:
        raise ValueError(f"autolag must be one of {_AUTOLAG_CHOICES} or None, got {autolag!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    z = prepare_prices(prices, log_prices=log_prices)
    t_len, n_sym = z.shape
    m = resolve_maxlag(t_len, maxlag)
    sm = symbol_moments(split_tiles(z), m, n_tiles(n_sym))
    first, second = np.triu_indices(n_sym, k=1)
    first = first.astype(np.intp)
    second = second.astype(np.intp)
    forward = run_pairs(sm, first, second, t_len, m, autolag, chunk_size)
    backward = run_pairs(sm, second, first, t_len, m, autolag, chunk_size)
    return forward, backward
