"""Leg sizing of a spread position from the hedge ratio.

The spread is A - h * B on price levels, so the hedge ratio h is shares of B per share of A.
A long spread buys A and sells B (buys B when h < 0); a short spread does the opposite.
Weights are shares of gross notional (w_a + w_b = 1, both >= 0):

- dollar_neutral: w_a = w_b = 1/2, equal dollars in each leg whatever h.
- beta_neutral: 1 share of A against |h| shares of B, normalised to gross 1:
  w_a = p_a / (p_a + |h| * p_b) = 1 / (1 + |h| * p_b / p_a),  w_b = |h| * p_b / (p_a + |h| * p_b).

A position of gross notional N holds N * w_a / p_a shares of A and N * w_b / p_b of B; with
beta_neutral that is exactly |h| shares of B per share of A at the prices used.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.strategy.model import SIZINGS, Leg


def leg_weights(
    hedge_ratio: ArrayLike, price_a: ArrayLike, price_b: ArrayLike, sizing: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gross-notional weights (w_a, w_b) of the two legs; broadcasts over arrays."""
    h = np.abs(np.asarray(hedge_ratio, dtype=np.float64))
    pa = np.asarray(price_a, dtype=np.float64)
    pb = np.asarray(price_b, dtype=np.float64)
    if sizing == "dollar_neutral":
        half = np.full(np.broadcast_shapes(h.shape, pa.shape, pb.shape), 0.5)
        return half, half.copy()
    if sizing == "beta_neutral":
        notional_b = h * pb
        gross = pa + notional_b
        return pa / gross, notional_b / gross
    raise ValueError(f"sizing must be one of {SIZINGS}, got {sizing!r}")


def b_leg_sign(hedge_ratio: ArrayLike) -> NDArray[np.float64]:
    """-1 where B is traded against A (h >= 0), +1 where with it (h < 0)."""
    return np.where(np.asarray(hedge_ratio, dtype=np.float64) >= 0.0, -1.0, 1.0)


def spread_legs(
    symbol_a: str,
    symbol_b: str,
    direction: int,
    hedge_ratio: float,
    weight_a: float,
    weight_b: float,
) -> tuple[Leg, Leg]:
    """Orders that put on a spread position: direction +1 long spread, -1 short spread."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be +1 (long) or -1 (short spread), got {direction}")
    sign_b = direction * float(b_leg_sign(hedge_ratio))
    return (
        Leg(symbol=symbol_a, side="buy" if direction > 0 else "sell", weight=weight_a),
        Leg(symbol=symbol_b, side="buy" if sign_b > 0 else "sell", weight=weight_b),
    )


def unwind_legs(legs: tuple[Leg, ...]) -> tuple[Leg, ...]:
    """Orders that take a position off: same weights, opposite sides."""
    return tuple(
        Leg(symbol=leg.symbol, side="sell" if leg.side == "buy" else "buy", weight=leg.weight)
        for leg in legs
    )
