"""Value types of the pairs-trading strategy core: parameters, per-bar inputs, signals.

Everything here is a plain frozen dataclass with no I/O, shared by the live signals service
and the backtest engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Literal

Sizing = Literal["dollar_neutral", "beta_neutral"]
SIZINGS: tuple[str, ...] = ("dollar_neutral", "beta_neutral")


@dataclass(frozen=True)
class StrategyParams:
    """Decision parameters of the z-score pair strategy.

    - ``entry_z`` (default 2.0): open long spread at z <= -entry_z, short spread at z >= entry_z.
    - ``exit_z`` (default 0.5): close when mean reverted, long at z >= -exit_z, short at
      z <= exit_z. Must satisfy -entry_z < exit_z < entry_z (a negative value asks for an
      overshoot through zero).
    - ``stop_z`` (default 4.0): stop loss when z moves against the position to |z| >= stop_z
      (long: z <= -stop_z, short: z >= stop_z). ``inf`` disables it. No entry is taken beyond
      the stop band (an entry at z <= -stop_z would be stopped at once).
    - ``lookback`` (default 60 bars): z-score window; the backtest uses it, live z-scores come
      from the pairs service with its own window.
    - ``time_stop_half_lives`` k (default 3.0): close after ceil(k x half-life at entry) bars in
      the position; ``inf`` disables it.
    - ``sizing`` (default dollar-neutral): see :mod:`core.strategy.legs`.
    - ``version``: label of the parameter set, carried by every signal it decides.
    """

    entry_z: float = 2.0
    exit_z: float = 0.5
    stop_z: float = 4.0
    lookback: int = 60
    time_stop_half_lives: float = 3.0
    sizing: Sizing = "dollar_neutral"
    version: str = "default-v1"

    def __post_init__(self) -> None:
        validate_thresholds(self.entry_z, self.exit_z, self.stop_z, self.time_stop_half_lives)
        if isinstance(self.lookback, bool) or not isinstance(self.lookback, int):
            raise TypeError(f"lookback must be an int, got {type(self.lookback).__name__}")
        if self.lookback < 2:
            raise ValueError(f"lookback must be >= 2 bars, got {self.lookback}")
        if self.sizing not in SIZINGS:
            raise ValueError(f"sizing must be one of {SIZINGS}, got {self.sizing!r}")
        if not self.version:
            raise ValueError("version must be a non-empty string")


def validate_thresholds(entry_z: float, exit_z: float, stop_z: float, k: float) -> None:
    """Raise ValueError unless the thresholds describe a usable strategy."""
    if not (math.isfinite(entry_z) and entry_z > 0):
        raise ValueError(f"entry_z must be finite and > 0, got {entry_z}")
    if not (math.isfinite(exit_z) and -entry_z < exit_z < entry_z):
        raise ValueError(f"exit_z must satisfy -entry_z < exit_z < entry_z, got {exit_z}")
    if math.isnan(stop_z) or stop_z <= entry_z:
        raise ValueError(f"stop_z must be > entry_z ({entry_z}) or inf, got {stop_z}")
    if math.isnan(k) or k <= 0:
        raise ValueError(f"time_stop_half_lives must be > 0 or inf, got {k}")


class PairLifecycle(StrEnum):
    """Pair state as published on pairs.lifecycle.v1."""

    CANDIDATE = "candidate"
    ACTIVE = "active"
    DEGRADED = "degraded"
    RETIRED = "retired"

    @property
    def allows_entry(self) -> bool:
        return self is PairLifecycle.ACTIVE

    @property
    def forces_close(self) -> bool:
        return self in (PairLifecycle.DEGRADED, PairLifecycle.RETIRED)


@dataclass(frozen=True)
class RegimeState:
    """Current regime of the pair (or market) and whether it forbids new entries."""

    label: str
    no_trade: bool = False

    @classmethod
    def from_label(cls, label: str, no_trade_labels: frozenset[str]) -> RegimeState:
        return cls(label=label, no_trade=label in no_trade_labels)


@dataclass(frozen=True)
class SpreadObservation:
    """One bar of a pair's spread as the pairs service publishes it (pairs.spreads.v1)."""

    pair_id: str
    bar_time: datetime
    z_score: float
    hedge_ratio: float
    half_life: float
    spread: float
    price_a: float
    price_b: float

    def __post_init__(self) -> None:
        if self.bar_time.tzinfo is None or self.bar_time.utcoffset() is None:
            raise ValueError(f"bar_time must be timezone-aware, got {self.bar_time!r}")
        for name in ("price_a", "price_b"):
            price = getattr(self, name)
            if not (math.isfinite(price) and price > 0):
                raise ValueError(f"{name} must be finite and > 0, got {price}")
        if not math.isfinite(self.hedge_ratio):
            raise ValueError(f"hedge_ratio must be finite, got {self.hedge_ratio}")


class ActionCode(IntEnum):
    """Numeric action codes used by the vectorised transition (0 = nothing happens)."""

    NONE = 0
    OPEN_LONG_SPREAD = 1
    OPEN_SHORT_SPREAD = 2
    CLOSE = 3
    STOP = 4
    TIME_STOP = 5
    FORCED_CLOSE = 6


class SignalAction(StrEnum):
    OPEN_LONG_SPREAD = "open_long_spread"
    OPEN_SHORT_SPREAD = "open_short_spread"
    CLOSE = "close"
    STOP = "stop"
    TIME_STOP = "time_stop"
    FORCED_CLOSE = "forced_close"

    @classmethod
    def from_code(cls, code: int) -> SignalAction:
        if code == ActionCode.NONE:
            raise ValueError("action code 0 means no signal")
        return _ACTION_BY_CODE[ActionCode(code)]

    @property
    def is_open(self) -> bool:
        return self in (SignalAction.OPEN_LONG_SPREAD, SignalAction.OPEN_SHORT_SPREAD)


_ACTION_BY_CODE: dict[ActionCode, SignalAction] = {
    ActionCode.OPEN_LONG_SPREAD: SignalAction.OPEN_LONG_SPREAD,
    ActionCode.OPEN_SHORT_SPREAD: SignalAction.OPEN_SHORT_SPREAD,
    ActionCode.CLOSE: SignalAction.CLOSE,
    ActionCode.STOP: SignalAction.STOP,
    ActionCode.TIME_STOP: SignalAction.TIME_STOP,
    ActionCode.FORCED_CLOSE: SignalAction.FORCED_CLOSE,
}


@dataclass(frozen=True)
class Leg:
    """One order of a signal: trade ``symbol`` on ``side`` with a share of gross notional."""

    symbol: str
    side: Literal["buy", "sell"]
    weight: float


@dataclass(frozen=True)
class Signal:
    """A decision of the strategy for one pair at one bar (payload of signals.v1)."""

    signal_id: str
    pair_id: str
    bar_time: datetime
    action: SignalAction
    reason: str
    z_score: float
    hedge_ratio: float
    regime: str
    params_version: str
    legs: tuple[Leg, ...]
