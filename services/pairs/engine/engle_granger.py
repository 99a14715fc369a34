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
off symbol-level lagged cross-moment matrices (one GEMM per lag, shared by all pairs and both
orderings); the sums over each regression's window then differ from the full sums only by a few
edge terms near both ends, computed per pair from ~3*maxlag residual values. One Cholesky factor
of the augmented Gram ``[level, lag_1..lag_m, response]`` gives the residual sum of squares and
the last-regressor t-value of every nested lag model at once; the refit is a Cholesky per lag
group with the level regressor placed last, whose t-value is ``L[-1, -2] / s``.

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

from services.pairs.engine.mackinnon import mackinnon_critical_values, mackinnon_pvalue

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


@dataclass(frozen=True)
class _SymbolMoments:
    """Cross-moments of all symbols, shared by every pair and both orderings."""

    centered: FloatArray  # (T, N) prices minus their sample mean
    mean: FloatArray  # (N,)
    cross: FloatArray  # (N, N) full-sample centered cross products
    diff_diff: FloatArray  # (m+1, N, N): [k, i, j] = sum_{u=k}^{E} D[u,i] D[u-k,j]
    level_diff: FloatArray  # (m+1, N, N): [k, i, j] = sum_{s=k}^{E} Z[s,i] D[s-k,j]
    level_level: FloatArray  # (N, N): sum_{s=0}^{E} Z[s,i] Z[s,j]


def _symbol_moments(z: FloatArray, maxlag: int) -> _SymbolMoments:
    t_len = z.shape[0]
    mean = z.mean(axis=0)
    zc = z - mean
    d = np.diff(zc, axis=0)
    diff_diff = np.stack([d[k:].T @ d[: t_len - 1 - k] for k in range(maxlag + 1)])
    level_diff = np.stack([zc[k : t_len - 1].T @ d[: t_len - 1 - k] for k in range(maxlag + 1)])
    head = zc[: t_len - 1]
    return _SymbolMoments(zc, mean, zc.T @ zc, diff_diff, level_diff, head.T @ head)


def _bilinear(mat: FloatArray, y: IntArray, x: IntArray, beta: FloatArray) -> FloatArray:
    """sum over (y - beta x) (y - beta x)-type products from symbol moments; last axes are (N, N)."""
    yy = mat[..., y, y]
    cross = mat[..., y, x] + mat[..., x, y]
    xx = mat[..., x, x]
    return np.asarray(yy - beta * cross + beta * beta * xx, dtype=np.float64)


@dataclass(frozen=True)
class _PairMoments:
    """Per-pair sums for a chunk of ordered pairs, flattened for index gathers.

    ``full``: [sum_{u=k}^{E} d_u d_{u-k} (k=0..m), sum_{s=k}^{E} e_s d_{s-k} (k=0..m),
    sum_{s=0}^{E} e_s^2]. ``corr``: edge terms, blocks of (m+1)^2 indexed [k, a]:
    head_dd = sum_{u=k}^{a-1} d_u d_{u-k}, tail_dd[i, k] = sum_{u=E-i+1}^{E} d_u d_{u-k},
    head_ld = sum_{s=k}^{a-1} e_s d_{s-k}; then head_ll[a] = sum_{s<a} e_s^2; then one zero.
    """

    full: FloatArray
    corr: FloatArray


def _lagged_cumsum(lead: FloatArray, lagged: FloatArray, out: FloatArray) -> None:
    """out[:, k, a] = sum_{r<a} lead_r * lagged[r, k] for a in 0..m; ``lagged`` is (P, m, m+1).

    Accumulating along the last (contiguous) axis is several times faster than along axis 1.
    """
    out[:, :, 0] = 0.0
    np.cumsum(lead[:, None, :] * lagged.transpose(0, 2, 1), axis=2, out=out[:, :, 1:])


def _pair_moments(
    sm: _SymbolMoments, y: IntArray, x: IntArray, beta: FloatArray, maxlag: int
) -> _PairMoments:
    m = maxlag
    t_len = sm.centered.shape[0]
    n_pairs = y.shape[0]
    full = np.concatenate(
        [
            _bilinear(sm.diff_diff, y, x, beta).T,
            _bilinear(sm.level_diff, y, x, beta).T,
            _bilinear(sm.level_level, y, x, beta)[:, None],
        ],
        axis=1,
    )
    zc = sm.centered
    b = beta[:, None]
    e_head = zc[: m + 2, y].T - b * zc[: m + 2, x].T  # e_0 .. e_{m+1}
    e_tail = zc[t_len - 2 * m - 2 :, y].T - b * zc[t_len - 2 * m - 2 :, x].T
    d_head = np.diff(e_head, axis=1)  # d_0 .. d_m
    rev_tail = np.diff(e_tail, axis=1)[:, ::-1]  # d_E, d_{E-1}, ..., d_{E-2m}
    # m zeros in front, reversed windows: head_lags[:, u, k] = d_{u-k} (0 before the sample).
    padded = np.concatenate([np.zeros((n_pairs, m)), d_head], axis=1)
    window = np.lib.stride_tricks.sliding_window_view
    head_lags = window(padded, m + 1, axis=1)[:, :m, ::-1]
    tail_lags = window(rev_tail, m + 1, axis=1)[:, :m]  # [:, r, k] = d_{E-r-k}
    sq = (m + 1) * (m + 1)
    corr = np.empty((n_pairs, 3 * sq + m + 2))
    blocks = [corr[:, i * sq : (i + 1) * sq].reshape(n_pairs, m + 1, m + 1) for i in range(3)]
    _lagged_cumsum(d_head[:, :m], head_lags, blocks[0])
    _lagged_cumsum(rev_tail[:, :m], tail_lags, blocks[1])
    _lagged_cumsum(e_head[:, :m], head_lags, blocks[2])
    head_ll = corr[:, 3 * sq : 3 * sq + m + 1]
    head_ll[:, 0] = 0.0
    np.cumsum(e_head[:, :m] ** 2, axis=1, out=head_ll[:, 1:])
    corr[:, -1] = 0.0
    return _PairMoments(full, corr)


@dataclass(frozen=True)
class _GramLayout:
    """Flat gather indices building one ADF Gram (fixed lags and window) from _PairMoments."""

    full_idx: IntArray  # into _PairMoments.full
    head_idx: IntArray  # into _PairMoments.corr, subtracted
    tail_idx: IntArray  # into _PairMoments.corr, subtracted
    size: int


def _gram_layout(m: int, n_lags: int, start: int, *, level_last: bool) -> _GramLayout:
    """Gram over rows s = start..E of [level, lag_1..lag_p, response] (or level after the lags).

    ``m`` is the maxlag the moments were built for; needs ``n_lags <= start <= m``.
    """
    sq = (m + 1) * (m + 1)
    off_tail, off_ld, off_ll = sq, 2 * sq, 3 * sq
    zero = 3 * sq + m + 1
    lags = np.arange(1, n_lags + 1)
    # diff id of each column: lag i -> i, response -> 0, level -> -1
    ids = np.r_[lags, -1, 0] if level_last else np.r_[-1, lags, 0]
    r, c = np.meshgrid(ids, ids, indexing="ij")
    lo, hi = np.minimum(r, c).ravel(), np.maximum(r, c).ravel()
    k = hi - lo
    both_diff = lo >= 0
    one_level = (lo == -1) & (hi >= 0)
    full_idx = np.where(both_diff, k, np.where(one_level, m + 1 + hi, 2 * m + 2))
    head_idx = np.where(
        both_diff,
        k * (m + 1) + start - lo,
        np.where(one_level, off_ld + hi * (m + 1) + start, off_ll + start),
    )
    tail_idx = np.where(both_diff, off_tail + k * (m + 1) + lo, zero)
    return _GramLayout(
        full_idx.astype(np.intp), head_idx.astype(np.intp), tail_idx.astype(np.intp), ids.size
    )


def _window_gram(pm: _PairMoments, layout: _GramLayout, rows: IntArray | None = None) -> FloatArray:
    if rows is None:
        full = np.take(pm.full, layout.full_idx, axis=1)
        head = np.take(pm.corr, layout.head_idx, axis=1)
        tail = np.take(pm.corr, layout.tail_idx, axis=1)
    else:
        full = pm.full[rows[:, None], layout.full_idx[None, :]]
        head = pm.corr[rows[:, None], layout.head_idx[None, :]]
        tail = pm.corr[rows[:, None], layout.tail_idx[None, :]]
    full -= head
    full -= tail
    return full.reshape(-1, layout.size, layout.size)


def batched_cholesky(gram: FloatArray) -> FloatArray:
    """Lower Cholesky factors of a stack of matrices; NaN rows where a matrix is not PD."""
    try:
        return np.asarray(np.linalg.cholesky(gram), dtype=np.float64)
    except np.linalg.LinAlgError:
        pass
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


def _refit_stat(pm: _PairMoments, lags: IntArray, t_len: int, m: int) -> FloatArray:
    """ADF t-value of the level regressor (placed last), each pair on its own lag's sample."""
    stat = np.full(lags.shape[0], np.nan)
    for p in np.unique(lags[lags >= 0]).tolist():
        rows = np.flatnonzero(lags == p)
        layout = _gram_layout(m, p, p, level_last=True)
        chol = batched_cholesky(_window_gram(pm, layout, rows))
        dof = (t_len - 1 - p) - (p + 1)
        stat[rows] = chol[:, -1, -2] / (chol[:, -1, -1] / np.sqrt(dof))
    return stat


def engle_granger(
    prices: ArrayLike,
    y_index: ArrayLike,
    x_index: ArrayLike,
    *,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
    log_prices: bool = True,
    chunk_size: int = 8192,
) -> EngleGrangerResult:
    """Engle-Granger test of ``prices[:, y]`` on ``prices[:, x]`` for each (y, x) index pair."""
    if autolag is not None and autolag not in _AUTOLAG_CHOICES:
        raise ValueError(f"autolag must be one of {_AUTOLAG_CHOICES} or None, got {autolag!r}")
    z = prepare_prices(prices, log_prices=log_prices)
    t_len, n_sym = z.shape
    y = np.asarray(y_index, dtype=np.intp).ravel()
    x = np.asarray(x_index, dtype=np.intp).ravel()
    if y.shape != x.shape:
        raise ValueError("y_index and x_index must have the same length")
    if y.size and (min(y.min(), x.min()) < 0 or max(y.max(), x.max()) >= n_sym):
        raise ValueError(f"pair indices must lie in 0..{n_sym - 1}")
    m = resolve_maxlag(t_len, maxlag)
    sm = _symbol_moments(z, m)
    return _run_pairs(sm, y, x, t_len, m, autolag, chunk_size)


def _run_pairs(
    sm: _SymbolMoments,
    y: IntArray,
    x: IntArray,
    t_len: int,
    m: int,
    autolag: Autolag,
    chunk_size: int,
) -> EngleGrangerResult:
    var_y = sm.cross[y, y]
    var_x = sm.cross[x, x]
    cov = sm.cross[y, x]
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = cov / var_x
        rsq = cov * cov / (var_x * var_y)
    degenerate = ~(var_x > 0.0) | ~(var_y > 0.0)
    collinear = ~degenerate & (rsq >= _COLLINEAR_RSQ)
    regular = np.flatnonzero(~degenerate & ~collinear)
    stat = np.full(y.shape[0], np.nan)
    lags = np.full(y.shape[0], -1, dtype=np.intp)
    stat[collinear] = -np.inf
    select_layout = _gram_layout(m, m, m, level_last=False)
    for lo in range(0, regular.size, chunk_size):
        sel = regular[lo : lo + chunk_size]
        pm = _pair_moments(sm, y[sel], x[sel], beta[sel], m)
        if autolag is None:
            chosen = np.full(sel.size, m, dtype=np.intp)
        else:
            chol = batched_cholesky(_window_gram(pm, select_layout))
            chosen = _select_lag(chol, t_len - 1 - m, autolag)
        lags[sel] = chosen
        stat[sel] = _refit_stat(pm, chosen, t_len, m)
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
    chunk_size: int = 8192,
) -> tuple[EngleGrangerResult, EngleGrangerResult]:
    """Both orderings of every unordered pair i < j: (i on j, j on i), aligned row by row."""
    if autolag is not None and autolag not in _AUTOLAG_CHOICES:
        raise ValueError(f"autolag must be one of {_AUTOLAG_CHOICES} or None, got {autolag!r}")
    z = prepare_prices(prices, log_prices=log_prices)
    t_len, n_sym = z.shape
    m = resolve_maxlag(t_len, maxlag)
    sm = _symbol_moments(z, m)
    first, second = np.triu_indices(n_sym, k=1)
    first = first.astype(np.intp)
    second = second.astype(np.intp)
    forward = _run_pairs(sm, first, second, t_len, m, autolag, chunk_size)
    backward = _run_pairs(sm, second, first, t_len, m, autolag, chunk_size)
    return forward, backward
