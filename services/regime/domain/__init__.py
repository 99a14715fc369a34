"""Pure glue of the regime service: universe clock, spread input.

The per-scope tracker (``ScopeTracker``, ``TrackerConfig``, ``RefitPolicy``, ``ScopeStep``) is
quant code shared with backtest and lives in ``core.regime``.
"""

from services.regime.domain.spread_input import SpreadInput
from services.regime.domain.universe import MarketPoint, UniverseClock

__all__ = [
    "MarketPoint",
    "SpreadInput",
    "UniverseClock",
]
