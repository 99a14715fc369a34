"""Spread diagnostics: half-life, Hurst exponent, sub-window stability, FDR adjustment.

Spreads are arrays of shape (T,) or (T, P); results are per column.

Hurst exponent method ("variance of lagged differences"): for lags tau = 2..max_lag, take the
population standard deviation of ``spread[t + tau] - spread[t]`` and regress its log on
``log(tau)`` by least squares; the slope is H. For a random walk std grows as tau^0.5 (H = 0.5);
a mean-reverting spread has H < 0.5, a trending one H > 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.cointegration.engle_granger import Autolag, engle_granger

FloatArray = NDArray[np.float64]


def _as_columns(spread: ArrayLike) -> tuple[FloatArray, bool]:
    s = np.asarray(spread, dtype=np.float64)
    if s.ndim not in (1, 2):
        raise ValueError(f"spread must be (T,) or (T, P), got shape {s.shape}")
    return (s[:, None], True) if s.ndim == 1 else (s, False)


def half_life(spread: ArrayLike) -> FloatArray:
    """Half-life in bars from the OLS ``d spread_t = c + lam * spread_{t-1}``: ``-ln 2 / lam``.

    ``inf`` when ``lam >= 0`` (no mean reversion).
    """
    s, squeeze = _as_columns(spread)
    if s.shape[0] < 3:
        raise ValueError(f"half-life needs at least 3 observations, got {s.shape[0]}")
    lagged = s[:-1]
    change = np.diff(s, axis=0)
    lc = lagged - lagged.mean(axis=0)
    cc = change - change.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lam = (lc * cc).sum(axis=0) / (lc * lc).sum(axis=0)
        out = np.where(lam < 0.0, -np.log(2.0) / lam, np.inf)
    out = np.where(np.isnan(lam), np.nan, out)
    return np.asarray(out[0] if squeeze else out, dtype=np.float64)


def hurst_exponent(spread: ArrayLike, max_lag: int = 20) -> FloatArray:
    """Hurst exponent by the variance-of-lagged-differences method (see module docstring)."""
    s, squeeze = _as_columns(spread)
    t_len = s.shape[0]
    max_lag = min(max_lag, t_len // 2)
    if max_lag < 3:
        raise ValueError(f"series of {t_len} bars is too short for a Hurst estimate")
    taus = np.arange(2, max_lag + 1)
    log_std = np.empty((taus.size, s.shape[1]))
    with np.errstate(divide="ignore"):
        for row, tau in enumerate(taus):
            log_std[row] = np.log((s[tau:] - s[:-tau]).std(axis=0))
    log_tau = np.log(taus.astype(np.float64))
    lt = log_tau - log_tau.mean()
    slope = (lt[:, None] * (log_std - log_std.mean(axis=0))).sum(axis=0) / (lt * lt).sum()
    return np.asarray(slope[0] if squeeze else slope, dtype=np.float64)


def benjamini_hochberg(pvalues: ArrayLike) -> tuple[FloatArray, int]:
    """Benjamini-Hochberg adjusted p-values and the number of tests they were adjusted over.

    NaN p-values (pairs that could not be tested) are left NaN and not counted as tests.
    """
    p = np.asarray(pvalues, dtype=np.float64)
    flat = p.ravel()
    valid = np.flatnonzero(~np.isnan(flat))
    n_tests = int(valid.size)
    adjusted = np.full(flat.shape, np.nan)
    if n_tests:
        order = np.argsort(flat[valid], kind="mergesort")
        ranked = flat[valid][order]
        scaled = ranked * n_tests / np.arange(1, n_tests + 1)
        monotone = np.minimum.accumulate(scaled[::-1])[::-1]
        result = np.empty(n_tests)
        result[order] = np.minimum(monotone, 1.0)
        adjusted[valid] = result
    return adjusted.reshape(p.shape), n_tests


@dataclass(frozen=True)
class StabilityResult:
    pass_fraction: FloatArray  # share of sub-windows with p-value < alpha
    pvalue_min: FloatArray
    pvalue_max: FloatArray
    pvalue_range: FloatArray  # max - min over sub-windows
    pvalues: FloatArray  # (n_windows, P)


def cointegration_stability(
    prices: ArrayLike,
    y_index: ArrayLike,
    x_index: ArrayLike,
    *,
    n_windows: int = 4,
    alpha: float = 0.05,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
    log_prices: bool = True,
) -> StabilityResult:
    """Repeat the Engle-Granger test on ``n_windows`` consecutive non-overlapping sub-windows.

    The hedge ratio is re-estimated in each window; leftover bars at the start are dropped so
    that all windows have equal length.
    """
    z = np.asarray(prices, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError("prices must be a 2-D (bars x symbols) array")
    if n_windows < 1:
        raise ValueError(f"n_windows must be >= 1, got {n_windows}")
    width = z.shape[0] // n_windows
    if width < 20:
        raise ValueError(f"{z.shape[0]} bars split into {n_windows} windows is < 20 bars each")
    offset = z.shape[0] - width * n_windows
    pvals = np.stack(
        [
            engle_granger(
                z[offset + w * width : offset + (w + 1) * width],
                y_index,
                x_index,
                autolag=autolag,
                maxlag=maxlag,
                log_prices=log_prices,
            ).pvalue
            for w in range(n_windows)
        ]
    )
    lo = pvals.min(axis=0)
    hi = pvals.max(axis=0)
    return StabilityResult((pvals < alpha).mean(axis=0), lo, hi, hi - lo, pvals)
