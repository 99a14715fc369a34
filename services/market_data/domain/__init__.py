"""market_data's pure domain: tick validation and event-time bar aggregation (no I/O)."""

from services.market_data.domain.bar_state import BarChanges, BarRow, LateTick
from services.market_data.domain.bars import BarAggregator, BarConfig
from services.market_data.domain.validation import (
    AcceptedTick,
    Rejection,
    TickLimits,
    decode_ticks,
    epoch_us,
    first_occurrences,
)

__all__ = [
    "AcceptedTick",
    "BarAggregator",
    "BarChanges",
    "BarConfig",
    "BarRow",
    "LateTick",
    "Rejection",
    "TickLimits",
    "decode_ticks",
    "epoch_us",
    "first_occurrences",
]
