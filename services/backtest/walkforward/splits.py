"""Train/test splits for walk-forward analysis, in bar indices (half-open ranges)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

SplitMode = Literal["rolling", "expanding"]


@dataclass(frozen=True)
class Split:
    """One walk-forward step: fit on [train_start, train_end), trade [test_start, test_end)."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train_bars(self) -> int:
        return self.train_end - self.train_start

    @property
    def test_bars(self) -> int:
        return self.test_end - self.test_start


def make_splits(
    n_bars: int,
    train_bars: int,
    test_bars: int,
    step: int | None = None,
    mode: SplitMode = "rolling",
) -> tuple[Split, ...]:
    """Consecutive splits whose test windows never overlap (so they can be stitched).

    rolling: the training window keeps `train_bars` bars and slides by `step`.
    expanding: training always starts at bar 0 and grows by `step`.
    `step` defaults to `test_bars`; only complete test windows are produced.
    """
    step = test_bars if step is None else step
    if mode not in ("rolling", "expanding"):
        raise ValueError(f"mode must be 'rolling' or 'expanding', got {mode!r}")
    for name, value in (("n_bars", n_bars), ("train_bars", train_bars), ("test_bars", test_bars)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if step < test_bars:
        raise ValueError(
            f"step ({step}) must be >= test_bars ({test_bars}): overlapping out-of-sample "
            "windows would count the same bars twice when stitched"
        )
    if train_bars + test_bars > n_bars:
        raise ValueError(
            f"train_bars + test_bars = {train_bars + test_bars} exceeds the {n_bars} bars available"
        )
    splits: list[Split] = []
    train_end = train_bars
    while train_end + test_bars <= n_bars:
        train_start = 0 if mode == "expanding" else train_end - train_bars
        splits.append(Split(len(splits), train_start, train_end, train_end, train_end + test_bars))
        train_end += step
    return tuple(splits)
