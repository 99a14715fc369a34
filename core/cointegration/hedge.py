"""Static and rolling hedge-ratio estimators, vectorised over pairs.

All functions take ``y`` (dependent leg) and ``x`` (hedge leg) of shape (T,) or (T, P) and fit
``y = intercept + hedge_ratio * x``. Sums are taken on data centred by the full-sample mean
first, which makes the moment formulas numerically stable without changing the estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class HedgeFit:
    hedge_ratio: FloatArray
    intercept: FloatArray


def _as_legs(y: ArrayLike, x: ArrayLike) -> tuple[FloatArray, FloatArray]:
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if ya.shape != xa.shape or ya.ndim not in (1, 2):
        raise ValueError(f"y and x must share a (T,) or (T, P) shape, got {ya.shape}, {xa.shape}")
    if ya.shape[0] < 3:
        raise ValueError(f"need at least 3 observations, got {ya.shape[0]}")
    return ya, xa


def ols_hedge_ratio(y: ArrayLike, x: ArrayLike) -> HedgeFit:
    """OLS with a constant (the Engle-Granger first stage)."""
    ya, xa = _as_legs(y, x)
    yc = ya - ya.mean(axis=0)
    xc = xa - xa.mean(axis=0)
    beta = np.asarray((xc * yc).sum(axis=0) / (xc * xc).sum(axis=0), dtype=np.float64)
    return HedgeFit(beta, np.asarray(ya.mean(axis=0) - beta * xa.mean(axis=0), dtype=np.float64))


def tls_hedge_ratio(y: ArrayLike, x: ArrayLike) -> HedgeFit:
    """Total least squares (orthogonal regression): symmetric in measurement error of both legs.

    The slope is the direction of the leading principal axis of the centred (x, y) cloud:
    ``(Syy - Sxx + sqrt((Syy - Sxx)^2 + 4 Sxy^2)) / (2 Sxy)``.
    """
    ya, xa = _as_legs(y, x)
    yc = ya - ya.mean(axis=0)
    xc = xa - xa.mean(axis=0)
    sxx = (xc * xc).sum(axis=0)
    syy = (yc * yc).sum(axis=0)
    sxy = (xc * yc).sum(axis=0)
    gap = syy - sxx
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.asarray((gap + np.sqrt(gap * gap + 4.0 * sxy * sxy)) / (2.0 * sxy))
    return HedgeFit(beta, np.asarray(ya.mean(axis=0) - beta * xa.mean(axis=0), dtype=np.float64))


def rolling_ols_hedge_ratio(
    y: ArrayLike, x: ArrayLike, window: int, *, expanding: bool = False
) -> HedgeFit:
    """OLS with constant on each trailing window of ``window`` bars (NaN before the first).

    Row t uses bars t-window+1..t, as ``statsmodels.regression.rolling.RollingOLS``; with
    ``expanding=True`` the rows before the first full window use every bar so far (from two
    bars on), as ``RollingOLS(expanding=True)``, and ``window`` may exceed the history. Rows
    whose hedge leg does not vary within the window have no hedge ratio: NaN.
    """
    ya, xa = _as_legs(y, x)
    t_len = ya.shape[0]
    if window < 3 or (not expanding and window > t_len):
        raise ValueError(f"window must be in 3..{t_len}, got {window}")
    # Centring first keeps the cumulative-sum differences well conditioned.
    ym = ya.mean(axis=0)
    xm = xa.mean(axis=0)
    yc = ya - ym
    xc = xa - xm

    def window_sum(v: FloatArray) -> FloatArray:
        c = np.cumsum(v, axis=0)
        out = np.full_like(c, np.nan)
        if expanding:
            out[: min(window, t_len)] = c[: min(window, t_len)]
        else:
            out[window - 1] = c[window - 1]
        out[window:] = c[window:] - c[:-window]
        return out

    bars: FloatArray | float = float(window)
    if expanding:
        bars = np.minimum(np.arange(1.0, t_len + 1.0), float(window))
        bars = bars if ya.ndim == 1 else bars[:, None]
    sx = window_sum(xc)
    sy = window_sum(yc)
    sum_xx = window_sum(xc * xc)
    sxx = sum_xx - sx * sx / bars
    sxy = window_sum(xc * yc) - sx * sy / bars
    # A flat hedge leg leaves only rounding noise in sxx: no slope to report.
    flat = ~(sxx > 1e-12 * sum_xx)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(flat, np.nan, sxy / sxx)
    intercept = (sy - beta * sx) / bars + ym - beta * xm
    return HedgeFit(np.asarray(beta, dtype=np.float64), np.asarray(intercept, dtype=np.float64))
