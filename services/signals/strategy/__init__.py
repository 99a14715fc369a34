"""Pairs-trading strategy core: pure decision code shared by live signals and backtests."""

from services.signals.strategy.legs import leg_weights, spread_legs, unwind_legs
from services.signals.strategy.machine import (
    OpenPosition,
    PairSignalMachine,
    signal_id,
    split_pair_id,
)
from services.signals.strategy.model import (
    ActionCode,
    Leg,
    PairLifecycle,
    RegimeState,
    Signal,
    SignalAction,
    SpreadObservation,
    StrategyParams,
)

__all__ = [
    "ActionCode",
    "Leg",
    "OpenPosition",
    "PairLifecycle",
    "PairSignalMachine",
    "RegimeState",
    "Signal",
    "SignalAction",
    "SpreadObservation",
    "StrategyParams",
    "leg_weights",
    "signal_id",
    "split_pair_id",
    "spread_legs",
    "unwind_legs",
]
