"""Pure glue of the regime service: universe clock, spread input, per-scope trackers."""

from services.regime.domain.spread_input import SpreadInput
from services.regime.domain.tracker import (
    RefitPolicy,
    ScopeStep,
    ScopeTracker,
    TrackerConfig,
)
from services.regime.domain.universe import MarketPoint, UniverseClock

__all__ = [
    "MarketPoint",
    "RefitPolicy",
    "ScopeStep",
    "ScopeTracker",
    "SpreadInput",
    "TrackerConfig",
    "UniverseClock",
]
