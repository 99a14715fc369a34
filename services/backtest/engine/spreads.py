"""Spread, hedge ratio, z-score and half-life series of a pair, one column per lookback.

The spread is on price levels: s_t = a_t - (alpha + beta * b_t), beta = hedge ratio (shares
of B per share of A). ``hedge="ols"`` fits alpha, beta once on the whole history given (or
takes a fixed ``hedge_ratio``); ``hedge="rolling"`` refits them at every bar on the last
``lookback`` bars, so no bar uses later prices. The z-score of bar t is
(s_t - mean) / std over the last ``lookback`` spread values (sample std, ddof=1); the
half-life comes from the AR(1) fit ds_t = c + b * s_{t-1} over the last ``lookback``
changes: -ln 2 / ln(1 + b), inf when the spread does not mean revert (b >= 0).
Bars without a full window are NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
FloatInput = NDArray[np.floating[Any]]
HEDGE_METHODS = ("ols", "rolling")


@dataclass(frozen=True)
class SpreadSeries:
    """Per-bar spread statistics, column j computed with ``lookbacks[j]``; shape (T, L)."""

    lookbacks: NDArray[np.int64]
    z_score: FloatArray
    hedge_ratio: FloatArray
    half_life: FloatArray

    def __post_init__(self) -> None:
        n_lookbacks = len(self.lookbacks)
        for name in ("z_score", "hedge_ratio", "half_life"):
            array = getattr(self, name)
            if array.ndim != 2 or array.shape[1] != n_lookbacks:
                raise ValueError(
                    f"{name} must have shape (T, {n_lookbacks}) for lookbacks "
                    f"{self.lookbacks.tolist()}, got {array.shape}"
                )
        if not (self.z_score.shape == self.hedge_ratio.shape == self.half_life.shape):
            raise ValueError("z_score, hedge_ratio and half_life must have the same shape")
        if len(np.unique(self.lookbacks)) != n_lookbacks:
            raise ValueError(f"lookbacks must be distinct, got {self.lookbacks.tolist()}")

    @classmethod
    def single(
        cls, z_score: FloatArray, hedge_ratio: FloatArray, half_life: FloatArray, lookback: int
    ) -> SpreadSeries:
        """Series as the live pairs service publishes them (one z-score window)."""
        return cls(
            lookbacks=np.array([lookback], dtype=np.int64),
            z_score=np.asarray(z_score, dtype=np.float64).reshape(-1, 1),
            hedge_ratio=np.asarray(hedge_ratio, dtype=np.float64).reshape(-1, 1),
            half_life=np.asarray(half_life, dtype=np.float64).reshape(-1, 1),
        )

    def column(self, lookback: int) -> int:
        hits = np.flatnonzero(self.lookbacks == lookback)
        if len(hits) == 0:
            raise KeyError(f"no series for lookback {lookback}; have {self.lookbacks.tolist()}")
        return int(hits[0])


def ols_hedge(prices_a: FloatInput, prices_b: FloatInput) -> tuple[float, float]:
    """(alpha, beta) of the OLS fit a = alpha + beta * b."""
    b_centered = prices_b - prices_b.mean()
    variance = float(b_centered @ b_centered)
    if variance == 0.0:
        raise ValueError("prices_b is constant: the hedge ratio is undefined")
    beta = float(b_centered @ (prices_a - prices_a.mean())) / variance
    return float(prices_a.mean() - beta * prices_b.mean()), beta


def rolling_ols_hedge(
    prices_a: FloatInput, prices_b: FloatInput, window: int
) -> tuple[FloatArray, FloatArray]:
    """(alpha_t, beta_t) of a = alpha + beta * b over the last ``window`` bars (NaN before)."""
    alpha, beta = _rolling_regression(prices_b, prices_a, window)
    return alpha, beta


def rolling_zscore(spread: FloatInput, window: int) -> FloatArray:
    out = np.full(len(spread), np.nan)
    if len(spread) < window:
        return out
    windows = sliding_window_view(spread, window)
    mean = windows.mean(axis=1)
    std = windows.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (spread[window - 1 :] - mean) / std
    out[window - 1 :] = np.where(std > 0, z, np.nan)
    return out


def rolling_half_life(spread: FloatInput, window: int) -> FloatArray:
    """Half-life in bars from ds_t = c + b * s_{t-1} over the last ``window`` changes."""
    out = np.full(len(spread), np.nan)
    if len(spread) <= window:
        return out
    _, slope = _rolling_regression(spread[:-1], np.diff(spread), window)
    with np.errstate(divide="ignore", invalid="ignore"):
        half_life = -np.log(2.0) / np.log1p(slope)
    half_life = np.where(slope >= 0, np.inf, half_life)
    out[1:] = np.where(np.isnan(slope) | (slope <= -1), np.nan, half_life)
    return out


def _rolling_regression(x: FloatInput, y: FloatInput, window: int) -> tuple[FloatArray, FloatArray]:
    """Intercept and slope of y = c + m * x over trailing windows (NaN before the first)."""
    intercept = np.full(len(x), np.nan)
    slope = np.full(len(x), np.nan)
    if len(x) < window:
        return intercept, slope
    xw = sliding_window_view(x, window)
    yw = sliding_window_view(y, window)
    x_mean = xw.mean(axis=1)
    y_mean = yw.mean(axis=1)
    x_dev = xw - x_mean[:, None]
    sxx = np.einsum("ij,ij->i", x_dev, x_dev)
    sxy = np.einsum("ij,ij->i", x_dev, yw - y_mean[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(sxx > 0, sxy / sxx, np.nan)
    slope[window - 1 :] = m
    intercept[window - 1 :] = y_mean - m * x_mean
    return intercept, slope


def compute_spread_series(
    prices_a: FloatInput,
    prices_b: FloatInput,
    lookbacks: Sequence[int] | NDArray[np.integer[Any]],
    hedge: str = "ols",
    hedge_ratio: float | None = None,
) -> SpreadSeries:
    """Spread statistics for every distinct lookback (each computed once)."""
    if hedge not in HEDGE_METHODS:
        raise ValueError(f"hedge must be one of {HEDGE_METHODS}, got {hedge!r}")
    distinct = np.unique(np.asarray(lookbacks, dtype=np.int64))
    if len(distinct) == 0 or distinct[0] < 2:
        raise ValueError(f"lookbacks must be >= 2 bars, got {list(lookbacks)}")
    n = len(prices_a)
    z = np.empty((n, len(distinct)))
    hedge_ratios = np.empty((n, len(distinct)))
    half_lives = np.empty((n, len(distinct)))
    if hedge == "ols":
        if hedge_ratio is None:
            alpha, beta = ols_hedge(prices_a, prices_b)
        else:
            beta = float(hedge_ratio)
            alpha = float(np.mean(prices_a - beta * prices_b))
        spread = prices_a - alpha - beta * prices_b
        hedge_ratios[:] = beta
    elif hedge_ratio is not None:
        raise ValueError("a fixed hedge_ratio only goes with hedge='ols'")
    for j, lookback in enumerate(distinct.tolist()):
        if hedge == "rolling":
            alphas, betas = rolling_ols_hedge(prices_a, prices_b, lookback)
            spread = prices_a - alphas - betas * prices_b
            hedge_ratios[:, j] = betas
        z[:, j] = rolling_zscore(spread, lookback)
        half_lives[:, j] = rolling_half_life(spread, lookback)
    return SpreadSeries(
        lookbacks=distinct, z_score=z, hedge_ratio=hedge_ratios, half_life=half_lives
    )
