"""Per-pair signal state machine of the live signals service.

Rules (see :mod:`core.strategy.transition` for the decision table):

- flat -> long spread at z <= -entry_z, short spread at z >= entry_z, only while the pair is
  active and the regime is tradable (never beyond the stop band);
- long/short -> flat on mean reversion (close), stop loss, time stop or a forced close when
  the pair turns degraded or retired;
- an open position is governed by the parameters it was entered with: its exit_z, stop_z and
  time limit (ceil(k x half-life at entry) bars) stay fixed until it is closed, whatever
  parameter set or regime arrives meanwhile. New parameters decide the next entry. A
  no-trade regime blocks entries only; exits keep working, so a position is never orphaned;
- a bar at or before the last bar seen is a replay and is ignored (returns None).

The machine's whole state is :meth:`to_dict` (JSON-ready, stored by the service) and
:meth:`from_dict` restores it: continuing from a restored state gives the same signals as
never stopping.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.strategy.legs import leg_weights, spread_legs, unwind_legs
from core.strategy.model import (
    ActionCode,
    Leg,
    PairLifecycle,
    RegimeState,
    Signal,
    SignalAction,
    SpreadObservation,
    StrategyParams,
)
from core.strategy.transition import PositionArrays, gate_bits, step, z_conditions

SIGNAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://titan.local/events/signals.v1")
STATE_VERSION = 1


def signal_id(pair_id: str, action: SignalAction | str, bar_time: datetime) -> str:
    """Deterministic id: uuid5 over pair id, action and the bar time in UTC ISO format."""
    if bar_time.tzinfo is None:
        raise ValueError(f"bar_time must be timezone-aware, got {bar_time!r}")
    name = f"{pair_id}|{SignalAction(action).value}|{bar_time.astimezone(UTC).isoformat()}"
    return str(uuid.uuid5(SIGNAL_NAMESPACE, name))


def split_pair_id(pair_id: str) -> tuple[str, str]:
    """Symbols of a pair id ``A~B``."""
    parts = pair_id.split("~")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"pair_id must look like 'A~B', got {pair_id!r}")
    return parts[0], parts[1]


@dataclass(frozen=True)
class OpenPosition:
    """The open spread position and the parameters it was entered with."""

    direction: int  # +1 long spread, -1 short spread
    entry_time: datetime
    entry_z: float
    hedge_ratio: float
    params: StrategyParams
    bars_held: int
    time_limit: float  # bars; inf = no time stop
    legs: tuple[Leg, ...]


class PairSignalMachine:
    """Decides the signals of one pair, bar by bar."""

    def __init__(self, pair_id: str, params: StrategyParams) -> None:
        self.symbol_a, self.symbol_b = split_pair_id(pair_id)
        self.pair_id = pair_id
        self._params = params
        self._position: OpenPosition | None = None
        self._last_bar_time: datetime | None = None

    @property
    def params(self) -> StrategyParams:
        return self._params

    @property
    def position(self) -> OpenPosition | None:
        return self._position

    @property
    def last_bar_time(self) -> datetime | None:
        return self._last_bar_time

    def set_params(self, params: StrategyParams) -> None:
        """Use ``params`` for the next entries; an open position keeps its entry parameters."""
        self._params = params

    def on_bar(
        self, obs: SpreadObservation, lifecycle: PairLifecycle, regime: RegimeState
    ) -> Signal | None:
        if obs.pair_id != self.pair_id:
            raise ValueError(f"observation for {obs.pair_id!r} sent to machine of {self.pair_id!r}")
        if self._last_bar_time is not None and obs.bar_time <= self._last_bar_time:
            return None
        self._last_bar_time = obs.bar_time
        current, position = self._params, self._position
        governing = position.params if position is not None else current
        codes = z_conditions(
            obs.z_score, current.entry_z, current.stop_z, governing.exit_z, governing.stop_z
        ) | gate_bits(lifecycle.allows_entry and not regime.no_trade, lifecycle.forces_close)
        state = PositionArrays(
            position=np.array([position.direction if position else 0], dtype=np.int64),
            bars_held=np.array([position.bars_held if position else 0], dtype=np.int64),
            time_limit=np.array([position.time_limit if position else math.inf]),
        )
        actions = step(state, codes.reshape(1), obs.half_life, current.time_stop_half_lives)
        code = ActionCode(int(actions[0]))
        if code == ActionCode.NONE:
            if position is not None:
                self._position = replace(position, bars_held=int(state.bars_held[0]))
            return None
        action = SignalAction.from_code(code)
        if action.is_open:
            return self._open(obs, regime, action, state)
        assert position is not None
        self._position = None
        return self._signal(
            obs,
            regime,
            action,
            _exit_reason(action, obs, position, lifecycle, int(state.bars_held[0])),
            position.params.version,
            unwind_legs(position.legs),
        )

    def _open(
        self,
        obs: SpreadObservation,
        regime: RegimeState,
        action: SignalAction,
        state: PositionArrays,
    ) -> Signal:
        params = self._params
        direction = 1 if action == SignalAction.OPEN_LONG_SPREAD else -1
        w_a, w_b = leg_weights(obs.hedge_ratio, obs.price_a, obs.price_b, params.sizing)
        legs = spread_legs(
            self.symbol_a, self.symbol_b, direction, obs.hedge_ratio, float(w_a), float(w_b)
        )
        self._position = OpenPosition(
            direction=direction,
            entry_time=obs.bar_time,
            entry_z=obs.z_score,
            hedge_ratio=obs.hedge_ratio,
            params=params,
            bars_held=int(state.bars_held[0]),
            time_limit=float(state.time_limit[0]),
            legs=legs,
        )
        sign = "<= -" if direction > 0 else ">= "
        reason = f"z {obs.z_score:.4g} {sign}entry {params.entry_z:g}"
        return self._signal(obs, regime, action, reason, params.version, legs)

    def _signal(
        self,
        obs: SpreadObservation,
        regime: RegimeState,
        action: SignalAction,
        reason: str,
        version: str,
        legs: tuple[Leg, ...],
    ) -> Signal:
        return Signal(
            signal_id=signal_id(self.pair_id, action, obs.bar_time),
            pair_id=self.pair_id,
            bar_time=obs.bar_time,
            action=action,
            reason=reason,
            z_score=obs.z_score,
            hedge_ratio=obs.hedge_ratio,
            regime=regime.label,
            params_version=version,
            legs=legs,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready snapshot of the whole state (non-finite floats as strings)."""
        position = self._position
        return {
            "state_version": STATE_VERSION,
            "pair_id": self.pair_id,
            "params": _params_to_dict(self._params),
            "last_bar_time": _time_to_str(self._last_bar_time),
            "position": None
            if position is None
            else {
                "direction": position.direction,
                "entry_time": _time_to_str(position.entry_time),
                "entry_z": _float_to_json(position.entry_z),
                "hedge_ratio": position.hedge_ratio,
                "params": _params_to_dict(position.params),
                "bars_held": position.bars_held,
                "time_limit": _float_to_json(position.time_limit),
                "legs": [asdict(leg) for leg in position.legs],
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PairSignalMachine:
        version = data.get("state_version")
        if version != STATE_VERSION:
            raise ValueError(f"unsupported state_version {version!r}, expected {STATE_VERSION}")
        machine = cls(str(data["pair_id"]), _params_from_dict(data["params"]))
        machine._last_bar_time = _time_from_str(data["last_bar_time"])
        raw = data["position"]
        if raw is not None:
            entry_time = _time_from_str(raw["entry_time"])
            if entry_time is None:
                raise ValueError("an open position needs an entry_time")
            machine._position = OpenPosition(
                direction=int(raw["direction"]),
                entry_time=entry_time,
                entry_z=_float_from_json(raw["entry_z"]),
                hedge_ratio=float(raw["hedge_ratio"]),
                params=_params_from_dict(raw["params"]),
                bars_held=int(raw["bars_held"]),
                time_limit=_float_from_json(raw["time_limit"]),
                legs=tuple(
                    Leg(symbol=str(leg["symbol"]), side=leg["side"], weight=float(leg["weight"]))
                    for leg in raw["legs"]
                ),
            )
        return machine


def _exit_reason(
    action: SignalAction,
    obs: SpreadObservation,
    position: OpenPosition,
    lifecycle: PairLifecycle,
    bars_held: int,
) -> str:
    params, z = position.params, obs.z_score
    long = position.direction > 0
    if action == SignalAction.FORCED_CLOSE:
        return f"pair {lifecycle.value}"
    if action == SignalAction.STOP:
        return f"stop: z {z:.4g} {'<= -' if long else '>= '}{params.stop_z:g}"
    if action == SignalAction.CLOSE:
        return f"mean reverted: z {z:.4g} {'>= -' if long else '<= '}{params.exit_z:g}"
    return (
        f"time stop: {bars_held} bars >= {position.time_limit:g} "
        f"({params.time_stop_half_lives:g} half-lives at entry)"
    )


def _float_to_json(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def _float_from_json(value: float | str) -> float:
    return float(value)


def _time_to_str(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _time_from_str(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _params_to_dict(params: StrategyParams) -> dict[str, Any]:
    raw = asdict(params)
    return {key: _float_to_json(v) if isinstance(v, float) else v for key, v in raw.items()}


def _params_from_dict(raw: dict[str, Any]) -> StrategyParams:
    return StrategyParams(
        entry_z=_float_from_json(raw["entry_z"]),
        exit_z=_float_from_json(raw["exit_z"]),
        stop_z=_float_from_json(raw["stop_z"]),
        lookback=int(raw["lookback"]),
        time_stop_half_lives=_float_from_json(raw["time_stop_half_lives"]),
        sizing=raw["sizing"],
        version=str(raw["version"]),
    )
