"""One universe screen over the aligned close matrix (the engine does the statistics)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.cointegration import Autolag, PairScreenResult, screen_universe
from services.pairs.domain.lifecycle import ScreenOutcome

MIN_SCREEN_BARS = 30


@dataclass(frozen=True)
class ScreenSettings:
    window: int = 252  # bars per screen
    every: int = 21  # complete bar times between scheduled screens
    autolag: Autolag = "aic"
    maxlag: int | None = None

    def __post_init__(self) -> None:
        if self.window < MIN_SCREEN_BARS:
            raise ValueError(f"screen window must be >= {MIN_SCREEN_BARS} bars")
        if self.every < 1:
            raise ValueError("screen interval must be >= 1 bar")


@dataclass(frozen=True)
class ScreenRun:
    results: list[PairScreenResult]
    symbols: list[str]  # screened, sorted
    excluded: list[str]  # lacked a full window of (forward-filled) prices


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Unordered identity of a pair: the engine may report either leg as dependent."""
    return (a, b) if a <= b else (b, a)


# (closes, symbols, autolag, maxlag) -> the universe screen's records. The composition root
# may pass one that shards the pair space over processes; it must equal ``in_process_screen``.
ScreenFn = Callable[[NDArray[np.float64], list[str], Autolag, int | None], list[PairScreenResult]]


def in_process_screen(
    closes: NDArray[np.float64], symbols: list[str], autolag: Autolag, maxlag: int | None
) -> list[PairScreenResult]:
    return screen_universe(closes, symbols, window=None, autolag=autolag, maxlag=maxlag)


def screen_matrix(
    closes: NDArray[np.float64],
    symbols: list[str],
    s: ScreenSettings,
    screen: ScreenFn = in_process_screen,
) -> ScreenRun:
    """Screen the columns with a full, positive window; symbols are screened in sorted order
    so the engine's tie rules do not depend on the order symbols joined the universe."""
    order = sorted(range(len(symbols)), key=lambda i: symbols[i])
    good = [i for i in order if bool(np.all(np.isfinite(closes[:, i]) & (closes[:, i] > 0.0)))]
    excluded = sorted(symbols[i] for i in order if i not in set(good))
    used = [symbols[i] for i in good]
    if len(good) < 2:
        return ScreenRun([], used, excluded)
    results = screen(closes[:, good], used, s.autolag, s.maxlag)
    return ScreenRun(results, used, excluded)


def outcome_of(r: PairScreenResult) -> ScreenOutcome:
    return ScreenOutcome(r.pvalue_adjusted, r.half_life, r.hurst)


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
