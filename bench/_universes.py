"""Synthetic price universes shared by the screen benchmarks (NumPy only: importing this adds
nothing to a benchmark's measured memory)."""

from __future__ import annotations

import numpy as np


def synthetic_prices(n_bars: int, n_symbols: int, seed: int, tie_every: int = 5) -> np.ndarray:
    """Geometric random walks; symbol j + 1 tied to symbol j by a stationary AR(1) spread for
    every `tie_every`-th j (every fifth symbol by default)."""
    rng = np.random.default_rng(seed)
    log_p = 4.0 + np.cumsum(0.01 * rng.standard_normal((n_bars, n_symbols)), axis=0)
    for j in range(0, n_symbols - 1, tie_every):
        noise = np.zeros(n_bars)
        shocks = 0.01 * rng.standard_normal(n_bars)
        for t in range(1, n_bars):
            noise[t] = 0.9 * noise[t - 1] + shocks[t]
        log_p[:, j + 1] = 0.5 + 0.9 * log_p[:, j] + noise
    return np.exp(log_p)
