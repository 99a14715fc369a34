"""Tearsheet statistics of one returns series: periodic and rolling returns, drawdown
episodes, tail risk and a benchmark's alpha and beta. Vectorised NumPy, no pandas.

Conventions follow empyrical-reloaded 0.7.1 (the oracle in the tests): rolling Sharpe and
volatility use the sample standard deviation (ddof=1) of each full window; VaR is the
`cutoff` percentile (linear interpolation) and CVaR the mean of the int((n-1)*cutoff)+1 lowest
returns; alpha is annualised by compounding the mean residual, beta is cov/var of the bars
where both series are present. Periods compound returns; a NaN bar compounds as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class DrawdownEpisode:
    """A fall from an equity peak: bars are indexes into the returns (the peak is the bar
    whose close set the peak, -1 for the initial equity); recovery is None while underwater."""

    peak: int
    trough: int
    recovery: int | None
    depth: float  # negative fraction, -0.2 = 20 % below the peak

    @property
    def bars_underwater(self) -> int | None:
        return None if self.recovery is None else self.recovery - self.peak


def compounded_by_period(
    returns: npt.ArrayLike, keys: npt.ArrayLike
) -> tuple[IntArray, FloatArray]:
    """Compound return of each run of equal, ascending period keys (e.g. year*12 + month)."""
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=0.0)
    k = np.asarray(keys, dtype=np.int64)
    if r.shape != k.shape or r.ndim != 1:
        raise ValueError(f"returns {r.shape} and period keys {k.shape} must be equal 1-D shapes")
    if r.size == 0:
        return k, r
    if np.any(np.diff(k) < 0):
        raise ValueError("period keys must be in time order")
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    growth: FloatArray = np.multiply.reduceat(1.0 + r, starts) - 1.0
    return k[starts], growth


def _windows(returns: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    r = np.asarray(returns, dtype=np.float64)
    if window < 2:
        raise ValueError(f"rolling window must be at least 2 bars, got {window}")
    if r.size < window:
        return np.empty((0, window))
    return sliding_window_view(r, window)


def rolling_volatility(
    returns: npt.ArrayLike, window: int, periods_per_year: float = 252.0
) -> FloatArray:
    """Annualised volatility of each full window; element i covers bars i .. i+window-1."""
    w = _windows(returns, window)
    out: FloatArray = np.nanstd(w, axis=1, ddof=1) * np.sqrt(periods_per_year)
    return out


def rolling_sharpe(
    returns: npt.ArrayLike, window: int, periods_per_year: float = 252.0
) -> FloatArray:
    """Annualised Sharpe ratio (risk-free 0) of each full window, aligned like rolling_volatility."""
    w = _windows(returns, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = (
            np.nanmean(w, axis=1) / np.nanstd(w, axis=1, ddof=1) * np.sqrt(periods_per_year)
        )
    return out


def value_at_risk(returns: npt.ArrayLike, cutoff: float = 0.05) -> float:
    r = np.asarray(returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    return float(np.percentile(r, 100.0 * cutoff)) if r.size else float("nan")


def conditional_value_at_risk(returns: npt.ArrayLike, cutoff: float = 0.05) -> float:
    """Mean of the worst returns up to and including the cutoff's order statistic."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    if r.size == 0:
        return float("nan")
    tail = int((r.size - 1) * cutoff)
    return float(np.mean(np.partition(r, tail)[: tail + 1]))


def alpha_beta(
    returns: npt.ArrayLike, benchmark: npt.ArrayLike, periods_per_year: float = 252.0
) -> tuple[float, float]:
    """(annualised alpha, beta) of the returns against the benchmark's, risk-free 0."""
    r = np.asarray(returns, dtype=np.float64)
    m = np.asarray(benchmark, dtype=np.float64)
    if r.shape != m.shape:
        raise ValueError(f"returns {r.shape} and benchmark {m.shape} differ in shape")
    both = ~(np.isnan(r) | np.isnan(m))
    if both.sum() < 2:
        return float("nan"), float("nan")
    rb, mb = r[both], m[both]
    residual = mb - mb.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = float(np.mean(residual * rb) / np.mean(residual * residual))
    alpha = float((1.0 + np.nanmean(r - beta * m)) ** periods_per_year - 1.0)
    return alpha, beta


def buy_and_hold(*legs: npt.ArrayLike) -> FloatArray:
    """Per-bar returns of equal capital put in each leg at the first bar and held (bar 0: 0)."""
    prices = np.column_stack([np.asarray(leg, dtype=np.float64) for leg in legs])
    if prices.shape[0] == 0:
        return np.empty(0)
    if not np.all(np.isfinite(prices)) or np.any(prices <= 0):
        raise ValueError("buy-and-hold needs finite positive prices")
    value = (prices / prices[0]).mean(axis=1)
    out: FloatArray = np.r_[0.0, value[1:] / value[:-1] - 1.0]
    return out


def drawdown_episodes(returns: npt.ArrayLike, top: int = 5) -> list[DrawdownEpisode]:
    """The `top` deepest drawdown episodes, deepest first (ties: earliest first)."""
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=0.0)
    if r.size == 0:
        return []
    equity = np.r_[1.0, np.cumprod(1.0 + r)]
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    underwater = drawdown < 0.0
    edges = np.diff(np.r_[False, underwater, False].astype(np.int8))
    starts = np.flatnonzero(edges == 1)  # first equity point below the peak
    ends = np.flatnonzero(edges == -1)  # first equity point back at a peak (or past the end)
    if starts.size == 0:
        return []
    depths = np.minimum.reduceat(drawdown, starts)
    order = np.lexsort((starts, depths))[:top]
    episodes = []
    for i in order:
        s, e = int(starts[i]), int(ends[i])
        trough = s + int(np.argmin(drawdown[s:e]))
        # Equity point p is after bar p-1; the initial equity (point 0) is "bar -1".
        episodes.append(
            DrawdownEpisode(
                peak=s - 2,
                trough=trough - 1,
                recovery=None if e >= equity.size else e - 1,
                depth=float(depths[i]),
            )
        )
    return episodes
