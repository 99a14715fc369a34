"""An independent, plain if/else statement of the strategy rules, used as the tests' oracle.

It shares no code with the strategy core (no bit codes, no tables)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.strategy import PairLifecycle, StrategyParams


@dataclass
class ReferencePosition:
    direction: int
    params: StrategyParams
    bars_held: int
    time_limit: float


def reference_action(
    position: ReferencePosition | None,
    params: StrategyParams,
    z: float,
    half_life: float,
    lifecycle: PairLifecycle,
    no_trade: bool,
) -> tuple[str | None, ReferencePosition | None]:
    """(action or None, position after the bar)."""
    if position is None:
        if lifecycle != PairLifecycle.ACTIVE or no_trade or math.isnan(z):
            return None, None
        direction = 0
        if -params.stop_z < z <= -params.entry_z:
            direction = 1
        elif params.entry_z <= z < params.stop_z:
            direction = -1
        if direction == 0:
            return None, None
        limit = math.inf
        if (
            math.isfinite(half_life)
            and half_life > 0
            and math.isfinite(params.time_stop_half_lives)
        ):
            limit = float(math.ceil(params.time_stop_half_lives * half_life))
        action = "open_long_spread" if direction == 1 else "open_short_spread"
        return action, ReferencePosition(direction, params, 0, limit)
    held = position.bars_held + 1
    entry = position.params
    if lifecycle in (PairLifecycle.DEGRADED, PairLifecycle.RETIRED):
        return "forced_close", None
    if position.direction == 1:
        stopped, reverted = z <= -entry.stop_z, z >= -entry.exit_z
    else:
        stopped, reverted = z >= entry.stop_z, z <= entry.exit_z
    if stopped:
        return "stop", None
    if reverted:
        return "close", None
    if held >= position.time_limit:
        return "time_stop", None
    return None, ReferencePosition(position.direction, entry, held, position.time_limit)
