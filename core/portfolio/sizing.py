"""Allocation of notional across pairs and the risk-limit scale of a bar's entries.

Allocation (notional of an entering pair, from the portfolio's capital):
- equal: gross_leverage_cap * capital / N, N = pairs in play (lifecycle active or
  degraded, plus the entering ones), at least 1;
- inverse_vol: gross_leverage_cap * capital * (1/sigma_p) / sum over the pairs in play of
  1/sigma_q, sigma the standard deviation of the pair's unit-notional return over the last
  vol_lookback bars (a pair without that history takes the mean inverse vol of the others,
  equal weights if none has one);
- vol_target: target_vol_annual * capital / (sigma_p * sqrt(bars_per_year)), capped at the
  equal share (so the pairs in play together stay under the cap); no sigma: the equal share.

A pair's unit-notional return is sum_s u_ps * r_s with u the signed leg weights of its last
entry signal (for a pair that never signalled: +1/2 on A, -1/2 on B of its id A~B).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from core.portfolio.model import PortfolioConfig

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
_BISECTIONS = 60


def pair_vols(history: FloatArray, units: FloatArray, lookback: int) -> FloatArray:
    """sigma per pair (rows of `units`) over the last `lookback` returns; NaN where short."""
    if history.shape[0] < lookback + 1:
        return np.full(units.shape[0], np.nan)
    window = history[-(lookback + 1) :]
    returns = window[1:] / window[:-1] - 1.0
    touched = np.asarray(units != 0.0)
    missing = np.asarray(np.isnan(returns).any(axis=0))
    # A pair with a leg missing a price in the window has no estimate.
    incomplete = (touched & missing[None, :]).any(axis=1)
    pair_returns = np.where(missing[None, :], 0.0, returns) @ units.T
    sigma: FloatArray = pair_returns.std(axis=0, ddof=1)
    return np.where(incomplete | ~(sigma > 0), np.nan, sigma)


def allocate(
    config: PortfolioConfig, sigma: FloatArray, in_play: BoolArray, entering: BoolArray
) -> FloatArray:
    """Notional for every pair (meaningful where `entering`)."""
    budget = config.gross_leverage_cap * config.capital
    n = max(int(np.count_nonzero(in_play | entering)), 1)
    equal = np.full(sigma.shape, budget / n)
    if config.allocation == "equal":
        return equal
    if config.allocation == "vol_target":
        with np.errstate(divide="ignore", invalid="ignore"):
            wanted = (
                config.target_vol_annual * config.capital / (sigma * np.sqrt(config.bars_per_year))
            )
        out: FloatArray = np.where(np.isfinite(wanted), np.minimum(wanted, equal), equal)
        return out
    members = in_play | entering
    with np.errstate(divide="ignore"):
        inverse = 1.0 / sigma
    known = members & np.isfinite(inverse)
    if not known.any():
        return equal
    inverse = np.where(known, inverse, inverse[known].mean())
    total = inverse[members].sum()
    weights: FloatArray = budget * inverse / total
    return weights


def exposure_breaches(
    config: PortfolioConfig, position: FloatArray, prices: FloatArray, equity: float
) -> list[str]:
    """Every limit the symbol positions break at these prices (empty: within limits)."""
    value = position * prices
    out: list[str] = []
    if equity <= 0:
        return [f"equity {equity:.2f} <= 0"]
    gross = float(np.abs(value).sum()) / equity
    if gross > config.gross_limit:
        out.append(f"gross exposure {gross:.4f} > limit {config.gross_limit:g}")
    if config.max_net_exposure is not None:
        net = abs(float(value.sum())) / equity
        if net > config.max_net_exposure:
            out.append(f"net exposure {net:.4f} > limit {config.max_net_exposure:g}")
    if config.max_symbol_exposure is not None and len(value):
        worst = int(np.argmax(np.abs(value)))
        share = abs(float(value[worst])) / equity
        if share > config.max_symbol_exposure:
            out.append(f"symbol exposure {share:.4f} > limit {config.max_symbol_exposure:g}")
    return out


def entry_scale(
    config: PortfolioConfig,
    base: FloatArray,
    entries: FloatArray,
    prices: FloatArray,
    equity: float,
) -> tuple[float, list[str]]:
    """Largest s in [0, 1] with base + s * entries inside every limit, and why s < 1.

    Each limit is convex in s, so the feasible s form an interval [0, s*] when s = 0 is
    feasible; bisection finds s* to the last bit (a feasible point is always returned).
    """
    full = exposure_breaches(config, base + entries, prices, equity)
    if not full:
        return 1.0, []
    held = exposure_breaches(config, base, prices, equity)
    if held:
        return 0.0, [f"{b} without the entries" for b in held]
    lo, hi = 0.0, 1.0
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        if exposure_breaches(config, base + mid * entries, prices, equity):
            hi = mid
        else:
            lo = mid
    return lo, full
