"""Pairs-trading strategy: the pure decision code shared by live signals and backtests.

One per-bar transition rule (``transition.step`` over arrays: size 1 in the live state
machine, size C in the backtest grid), the parameter and event models, leg sizing, and the
per-pair state machine the signals service runs.
"""

from core.strategy.legs import b_leg_sign, leg_weights, spread_legs, unwind_legs
from core.strategy.machine import (
    OpenPosition,
    PairSignalMachine,
    signal_id,
    split_pair_id,
)
from core.strategy.model import (
    SIZINGS,
    ActionCode,
    Leg,
    PairLifecycle,
    RegimeState,
    Signal,
    SignalAction,
    Sizing,
    SpreadObservation,
    StrategyParams,
)
from core.strategy.transition import PositionArrays, gate_bits, step, z_conditions

__all__ = [
    "SIZINGS",
    "ActionCode",
    "Leg",
    "OpenPosition",
    "PairLifecycle",
    "PairSignalMachine",
    "PositionArrays",
    "RegimeState",
    "Signal",
    "SignalAction",
    "Sizing",
    "SpreadObservation",
    "StrategyParams",
    "b_leg_sign",
    "gate_bits",
    "leg_weights",
    "signal_id",
    "split_pair_id",
    "spread_legs",
    "step",
    "unwind_legs",
    "z_conditions",
]
