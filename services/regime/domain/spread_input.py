"""A pair scope's observable: the change of its spread from one update to the next.

The pairs service re-estimates the hedge ratio (Kalman) as it goes, so two consecutive
spreads can be measured with different (hedge ratio, intercept). Differencing those would
add the re-estimation jump to the market move; instead the previous bar is re-measured
with the current parameters, on log prices as the pairs service defines the spread
(log a - hedge_ratio * log b - intercept). If the published spreads do not follow that
definition the plain difference of published spreads is used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

# Relative tolerance for recognising the pairs service's log-price spread definition.
_DEFINITION_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class SpreadInput:
    bar_time: datetime
    spread: float
    price_a: float
    price_b: float
    hedge_ratio: float
    intercept: float

    def change_to(self, new: SpreadInput) -> float:
        """Spread change from self to `new`, measured with `new`'s hedge parameters."""
        same = new.hedge_ratio == self.hedge_ratio and new.intercept == self.intercept
        if same or not (self._follows_log_definition() and new._follows_log_definition()):
            return new.spread - self.spread
        remeasured = (
            math.log(self.price_a) - new.hedge_ratio * math.log(self.price_b) - new.intercept
        )
        return new.spread - remeasured

    def _follows_log_definition(self) -> bool:
        if self.price_a <= 0 or self.price_b <= 0:
            return False
        implied = math.log(self.price_a) - self.hedge_ratio * math.log(self.price_b)
        implied -= self.intercept
        scale = max(1.0, abs(self.spread))
        return abs(implied - self.spread) <= _DEFINITION_TOLERANCE * scale

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["bar_time"] = self.bar_time.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpreadInput:
        return cls(
            bar_time=datetime.fromisoformat(data["bar_time"]),
            spread=float(data["spread"]),
            price_a=float(data["price_a"]),
            price_b=float(data["price_b"]),
            hedge_ratio=float(data["hedge_ratio"]),
            intercept=float(data["intercept"]),
        )
