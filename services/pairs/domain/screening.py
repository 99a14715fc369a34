"""One universe screen over the aligned close matrix (the engine does the statistics)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.cointegration import Autolag, PairScreenResult, ScreenTable, screen_table
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
    results: Sequence[PairScreenResult]  # a ScreenTable from every screen function here
    symbols: list[str]  # screened, sorted
    excluded: list[str]  # lacked a full window of (forward-filled) prices


def pair_key(a: str, b: str) -> tuple[str, str]:
    """Unordered identity of a pair: the engine may report either leg as dependent."""
    return (a, b) if a <= b else (b, a)


# (closes, symbols, autolag, maxlag) -> the universe screen's records, as a ScreenTable (built
# when read) or a list. The composition root may pass one that shards the pair space over
# processes or replicas; it must equal ``in_process_screen``.
ScreenFn = Callable[
    [NDArray[np.float64], list[str], Autolag, int | None], Sequence[PairScreenResult]
]


def in_process_screen(
    closes: NDArray[np.float64], symbols: list[str], autolag: Autolag, maxlag: int | None
) -> ScreenTable:
    return screen_table(closes, symbols, autolag=autolag, maxlag=maxlag)


@dataclass(frozen=True)
class ScreenInput:
    """What a screen function receives: the screened columns (full, positive windows) in
    symbol order. The screen is a pure function of it, so its ``key`` names the results."""

    closes: NDArray[np.float64]
    symbols: tuple[str, ...]
    autolag: Autolag
    maxlag: int | None
    excluded: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return screen_key(self.closes, self.symbols, self.autolag, self.maxlag)


def screen_key(
    closes: NDArray[np.float64], symbols: Sequence[str], autolag: Autolag, maxlag: int | None
) -> str:
    """Digest of a screen function's arguments: equal digests, equal results."""
    h = hashlib.sha256()
    h.update(repr((closes.shape, autolag, maxlag, tuple(symbols))).encode())
    h.update(np.ascontiguousarray(closes, dtype=np.float64).tobytes())
    return h.hexdigest()


def screen_input(closes: NDArray[np.float64], symbols: list[str], s: ScreenSettings) -> ScreenInput:
    """The columns with a full, positive window, in sorted symbol order, so the engine's tie
    rules do not depend on the order symbols joined the universe."""
    order = sorted(range(len(symbols)), key=lambda i: symbols[i])
    good = [i for i in order if bool(np.all(np.isfinite(closes[:, i]) & (closes[:, i] > 0.0)))]
    kept = set(good)
    excluded = tuple(sorted(symbols[i] for i in order if i not in kept))
    used = tuple(symbols[i] for i in good)
    return ScreenInput(np.ascontiguousarray(closes[:, good]), used, s.autolag, s.maxlag, excluded)


def screen_matrix(
    closes: NDArray[np.float64],
    symbols: list[str],
    s: ScreenSettings,
    screen: ScreenFn = in_process_screen,
) -> ScreenRun:
    """Screen the columns with a full, positive window (see ``screen_input``)."""
    inp = screen_input(closes, symbols, s)
    used, excluded = list(inp.symbols), list(inp.excluded)
    if len(used) < 2:
        return ScreenRun([], used, excluded)
    results = screen(inp.closes, used, inp.autolag, inp.maxlag)
    return ScreenRun(results, used, excluded)


def outcome_of(r: PairScreenResult) -> ScreenOutcome:
    return ScreenOutcome(r.pvalue_adjusted, r.half_life, r.hurst)


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
