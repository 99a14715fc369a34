"""Performance of one equity curve, with the formulas of services/backtest/metrics.py.

Returns are simple per-bar returns of the equity (the first against the capital). Sharpe is
mean / standard deviation (ddof 1) x sqrt(bars per year), exactly 0 dispersion when every
return is equal (0/0 -> NaN, x/0 -> +/-inf), NaN under two bars; max drawdown is a negative
fraction measured from an initial equity of 1, as the backtest reports it.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def equity_returns(equity: FloatArray, capital: float) -> FloatArray:
    previous = np.concatenate([[capital], equity[:-1]])
    out: FloatArray = equity / previous - 1.0
    return out


def total_return(returns: FloatArray) -> float:
    return float(np.cumprod(1.0 + returns)[-1] - 1.0) if len(returns) else math.nan


def sharpe(returns: FloatArray, bars_per_year: float = 252.0) -> float:
    if len(returns) < 2:
        return math.nan
    mean = returns.sum() / len(returns)
    constant = bool(returns.max() == returns.min())
    std = 0.0 if constant else math.sqrt(((returns - mean) ** 2).sum() / (len(returns) - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.float64(mean) / np.float64(std)
    return float(ratio * math.sqrt(bars_per_year))


def max_drawdown(returns: FloatArray) -> float:
    if not len(returns):
        return math.nan
    equity = np.cumprod(1.0 + returns)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    return float(min((equity / peak - 1.0).min(), 0.0))
