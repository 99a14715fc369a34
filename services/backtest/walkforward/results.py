"""Walk-forward result records: plain frozen dataclasses, JSON friendly via `evidence()`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.backtest.walkforward.splits import Split

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
RegimeLabel = int | str


@dataclass(frozen=True)
class RegimeSelection:
    """What one split chose for one regime, and how it did in and out of sample."""

    split: Split
    regime: RegimeLabel
    combo: int
    objective_value: float
    in_sample_bars: int
    out_of_sample_bars: int
    out_of_sample_trades: int
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]


@dataclass(frozen=True)
class SkippedSelection:
    split: Split
    regime: RegimeLabel
    reason: str


@dataclass(frozen=True)
class RegimeWalkForward:
    """Everything the walk-forward learnt about one regime.

    `n_trials` = n_combos x (number of splits with a selection in this regime): each of those
    in-sample selections searched the whole grid. `trial_sharpe_variance` pools the per-period
    in-sample Sharpe ratios of every combo over those splits. `in_sample` averages the chosen
    combos' per-split in-sample metrics (rolling training windows overlap, so their returns
    cannot be stitched); `out_of_sample` is computed on the stitched out-of-sample bars.
    """

    regime: RegimeLabel
    selections: tuple[RegimeSelection, ...]
    skipped: tuple[SkippedSelection, ...]
    oos_bar_index: IntArray
    oos_returns: FloatArray
    oos_trades: int
    n_trials: int
    trial_sharpe_variance: float
    in_sample: dict[str, float]
    out_of_sample: dict[str, float]

    @property
    def latest_combo(self) -> int | None:
        """The combo chosen on the most recent training data: the one to trade next."""
        return self.selections[-1].combo if self.selections else None

    @property
    def combo_stability(self) -> float:
        """Share of splits that chose the latest combo (1.0 = same choice every time)."""
        if not self.selections:
            return float("nan")
        latest = self.latest_combo
        return sum(s.combo == latest for s in self.selections) / len(self.selections)


@dataclass(frozen=True)
class WalkForwardResult:
    """Per-regime results plus the stitched out-of-sample book across all regimes.

    On a test bar whose regime has no selection in that split the book is flat (return 0).
    Overall `n_trials` sums the regimes' trial counts.
    """

    objective: str
    n_combos: int
    n_bars: int
    splits: tuple[Split, ...]
    regimes: dict[RegimeLabel, RegimeWalkForward]
    oos_bar_index: IntArray
    oos_returns: FloatArray
    n_trials: int
    out_of_sample: dict[str, float]
