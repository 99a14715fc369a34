"""Regime events: RegimeShifted."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.events.envelope import Payload

MARKET_SCOPE = "market"


class RegimeShifted(Payload):
    """A declared regime shift for a scope (`market` or a pair id).

    Regimes are integer labels ordered by variance (then mean), lowest first, so a refit
    never renames them; `to_name` is a readable name such as `low_vol` or `trending`.
    """

    EVENT_TYPE = "RegimeShifted"

    scope: str
    bar_time: datetime
    from_regime: int | None
    to_regime: int = Field(ge=0)
    from_name: str | None = None
    to_name: str
    probability: float = Field(ge=0.0, le=1.0)
    model: str
    model_version: str
