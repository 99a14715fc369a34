"""Plain records of the signals service's state, as the store keeps them (no I/O here).

A pair's whole state is one `PairRecord`: the strategy machine's own snapshot (opaque JSON
from :meth:`PairSignalMachine.to_dict`), the lifecycle and pair-scope regime applied so far
with their event times, and the control events still waiting for the spread stream to reach
their event time. Parameter sets and market regime shifts are shared by every pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.strategy import PairLifecycle, Signal, StrategyParams

ControlKind = Literal["lifecycle", "regime"]
ANY_PAIR = "*"


@dataclass(frozen=True)
class RegimeMark:
    """A regime that holds from `bar_time` on (a RegimeShifted's `to` side)."""

    bar_time: datetime
    regime: int
    name: str


@dataclass(frozen=True)
class ControlEvent:
    """A lifecycle change or a pair-scope regime shift waiting for the spread stream.

    `seq` numbers a pair's control events in arrival order; among events of one kind with the
    same event time the later arrival wins (one partition feeds each kind, so arrival order
    within a kind is the partition order and does not change between runs).
    """

    kind: ControlKind
    seq: int
    event_time: datetime
    lifecycle: PairLifecycle | None = None
    regime: int | None = None
    regime_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "lifecycle": None if self.lifecycle is None else self.lifecycle.value,
            "regime": self.regime,
            "regime_name": self.regime_name,
        }

    @classmethod
    def from_json(
        cls, kind: ControlKind, seq: int, event_time: datetime, data: dict[str, Any]
    ) -> ControlEvent:
        raw = data.get("lifecycle")
        return cls(
            kind=kind,
            seq=seq,
            event_time=event_time,
            lifecycle=None if raw is None else PairLifecycle(raw),
            regime=data.get("regime"),
            regime_name=data.get("regime_name"),
        )


@dataclass(frozen=True)
class PositionRecord:
    """An open position, with the parameters it was entered with (they govern its exit)."""

    pair_id: str
    opening_signal_id: str
    direction: int
    entry_time: datetime
    entry_z: float
    hedge_ratio: float
    params_version: str
    params: dict[str, Any]
    bars_held: int
    legs: list[dict[str, Any]]


@dataclass(frozen=True)
class PairRecord:
    pair_id: str
    machine: dict[str, Any] | None
    lifecycle: PairLifecycle | None
    lifecycle_time: datetime | None
    regime: RegimeMark | None
    next_seq: int
    pending: tuple[ControlEvent, ...] = ()
    position: PositionRecord | None = None


@dataclass(frozen=True)
class ParamSet:
    """A published parameter set for `pair_key|regime` (pair_key `*` = every pair)."""

    pair_key: str
    regime: int | None
    params: StrategyParams
    no_trade: bool = False

    @property
    def key(self) -> tuple[str, int | None]:
        return (self.pair_key, self.regime)


@dataclass(frozen=True)
class EngineSnapshot:
    pairs: tuple[PairRecord, ...] = ()
    params: tuple[ParamSet, ...] = ()
    market: tuple[RegimeMark, ...] = ()


@dataclass
class Changes:
    """What handling some events changed: written to the tables in the same transaction."""

    pairs: dict[str, PairRecord] = field(default_factory=dict)
    params: dict[tuple[str, int | None], ParamSet] = field(default_factory=dict)
    market: dict[datetime, RegimeMark] = field(default_factory=dict)
    signals: list[Signal] = field(default_factory=list)

    def empty(self) -> bool:
        return not (self.pairs or self.params or self.market or self.signals)
