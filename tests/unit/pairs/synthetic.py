"""Synthetic prices for the pairs tests (the real files come from tests/data.py)."""

from __future__ import annotations

import numpy as np


def random_universe(seed: int, n_bars: int, n_symbols: int) -> np.ndarray:
    """Geometric random walks with two planted cointegrated pairs (0, 1) and (2, 3)."""
    rng = np.random.default_rng(seed)
    log_p = 4.0 + np.cumsum(0.01 * rng.standard_normal((n_bars, n_symbols)), axis=0)
    for lead, follower, phi, beta in ((0, 1, 0.7, 1.3), (2, 3, 0.95, 0.6)):
        shocks = 0.01 * rng.standard_normal(n_bars)
        spread = np.zeros(n_bars)
        for t in range(1, n_bars):
            spread[t] = phi * spread[t - 1] + shocks[t]
        log_p[:, follower] = 1.0 + beta * log_p[:, lead] + spread
    return np.exp(log_p)
