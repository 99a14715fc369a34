"""A small causal stand-in for the grid engine: precomputed returns sliced per window."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class FakeGridResult:
    returns: FloatArray
    trade_counts: npt.NDArray[np.int64]
    positions: FloatArray | None


@dataclass
class FakeEngine:
    """Bar t of any window depends only on bar t: trivially causal."""

    returns: FloatArray
    positions: FloatArray | None = None
    calls: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, start: int, end: int) -> FakeGridResult:
        self.calls.append((start, end))
        window = self.returns[start:end]
        if self.positions is None:
            active = window != 0
            pos = None
        else:
            pos = self.positions[start:end]
            active = pos != 0
        previous = np.vstack([np.zeros((1, window.shape[1]), bool), active[:-1]])
        return FakeGridResult(window.copy(), (active & ~previous).sum(axis=0), pos)


def regime_blocks(n_bars: int, block: int = 25) -> npt.NDArray[np.int64]:
    """Regime 0 and 1 alternating in blocks of `block` bars."""
    return ((np.arange(n_bars) // block) % 2).astype(np.int64)


def two_regime_book(
    n_bars: int = 1000, seed: int = 7, n_combos: int = 16
) -> tuple[FakeEngine, npt.NDArray[np.int64]]:
    """Combo 0 earns in regime 0, combo 1 in regime 1, the last never trades, others are noise.

    Specialists are flat-drift (noise) outside their regime, as real variants of one strategy
    would be, so the spread of trial Sharpe ratios stays realistic. Positions are runs of 5
    bars in, 3 bars out, so trades are plentiful in every regime.
    """
    rng = np.random.default_rng(seed)
    labels = regime_blocks(n_bars)
    in_market = (np.arange(n_bars) % 8) < 5
    positions = np.zeros((n_bars, n_combos))
    positions[:, :-1] = np.where(in_market, 1.0, 0.0)[:, None]
    drift = np.zeros((n_bars, n_combos))
    drift[:, 0] = np.where(labels == 0, 0.004, 0.0)
    drift[:, 1] = np.where(labels == 1, 0.004, 0.0)
    noise = rng.normal(0.0, 0.004, (n_bars, n_combos))
    returns = np.where(positions != 0, drift + noise, 0.0)
    return FakeEngine(returns, positions), labels
