"""Glue of the signals service around the strategy core: event-time ordering, parameters."""

from services.signals.domain.engine import SignalEngine, regime_label
from services.signals.domain.params import ParamsBook, Resolved, defaults_version
from services.signals.domain.records import (
    ANY_PAIR,
    Changes,
    ControlEvent,
    EngineSnapshot,
    PairRecord,
    ParamSet,
    PositionRecord,
    RegimeMark,
)

__all__ = [
    "ANY_PAIR",
    "Changes",
    "ControlEvent",
    "EngineSnapshot",
    "PairRecord",
    "ParamSet",
    "ParamsBook",
    "PositionRecord",
    "RegimeMark",
    "Resolved",
    "SignalEngine",
    "defaults_version",
    "regime_label",
]
