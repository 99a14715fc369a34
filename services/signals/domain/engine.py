"""The signals service's glue around the strategy core: event time decides, not arrival.

Records of different topics interleave differently from run to run (fetch sizes, batch
boundaries, a restart after SIGKILL), so the engine decides by event time wherever it can:

- Lifecycle changes (`as_of`) and pair-scope regime shifts (`bar_time`) are buffered per
  pair and applied when the pair's spread stream reaches their event time, i.e. just before
  the first SpreadUpdated with bar_time >= that time is decided; if the stream has already
  passed that time when the event arrives, it is applied at once (it then governs the next
  bar). Among events of one kind the latest event time wins, ties going to the later arrival
  (one partition carries each kind for a pair, so that order is fixed); an event older than
  the one applied is stale and dropped.
- A spread at bar_time t is decided in the pair-scope regime if one applies, else in the
  regime of the latest *market* shift with bar_time <= t known so far (all shifts are kept).
- Parameters: the latest set published for each `pair|regime` key known so far (see
  :mod:`services.signals.domain.params`); an open position keeps its entry parameters, so a
  new set or a regime shift never orphans it, and a no-trade regime blocks entries only.

What remains order-dependent (decided by arrival, documented rather than hidden):
- a control event arriving after the spread stream has passed its event time: the bars in
  between were decided without it (no signal is ever retracted);
- a market shift arriving after spreads with bar_time >= its bar_time were decided: those
  bars used the previous market regime;
- a parameter set arriving after spreads it would have applied to (params carry no event
  time that is comparable with bar times), likewise;
- a pair that stops streaming spreads after turning degraded/retired keeps its open position
  until a spread arrives, since the forced close is decided on a bar.
In a pipeline where control events and parameters are produced before the spreads they
concern are consumed, the output is identical for every interleaving (see the unit tests).

The engine is pure: it keeps the state in memory and reports what changed (`take_changes`)
for the store to write in the batch's transaction.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime

from core.strategy import (
    PairLifecycle,
    PairSignalMachine,
    RegimeState,
    Signal,
    SignalAction,
    SpreadObservation,
    signal_id,
)
from services.signals.domain.params import ParamsBook
from services.signals.domain.records import (
    Changes,
    ControlEvent,
    ControlKind,
    EngineSnapshot,
    PairRecord,
    ParamSet,
    PositionRecord,
    RegimeMark,
)


@dataclass
class _PairState:
    pair_id: str
    machine: PairSignalMachine | None = None
    lifecycle: PairLifecycle | None = None
    lifecycle_time: datetime | None = None
    regime: RegimeMark | None = None
    next_seq: int = 0
    pending: list[ControlEvent] = field(default_factory=list)

    @property
    def last_bar_time(self) -> datetime | None:
        return None if self.machine is None else self.machine.last_bar_time

    def apply(self, event: ControlEvent) -> None:
        if event.kind == "lifecycle":
            if self.lifecycle_time is None or event.event_time >= self.lifecycle_time:
                self.lifecycle = event.lifecycle
                self.lifecycle_time = event.event_time
        elif self.regime is None or event.event_time >= self.regime.bar_time:
            assert event.regime is not None
            self.regime = RegimeMark(event.event_time, event.regime, event.regime_name or "")


def regime_label(mark: RegimeMark | None) -> str:
    """The strategy core labels regimes with strings; the contract uses ints (or null)."""
    return "" if mark is None else str(mark.regime)


class SignalEngine:
    def __init__(
        self,
        book: ParamsBook,
        *,
        unknown_lifecycle: PairLifecycle = PairLifecycle.CANDIDATE,
        snapshot: EngineSnapshot | None = None,
    ) -> None:
        self.book = book
        self.unknown_lifecycle = unknown_lifecycle
        self._pairs: dict[str, _PairState] = {}
        self._market: list[RegimeMark] = []
        self._market_times: list[datetime] = []
        self._dirty: set[str] = set()
        self._changes = Changes()
        if snapshot is not None:
            self._restore(snapshot)

    # -- inputs ---------------------------------------------------------------------------

    def on_params(self, param_set: ParamSet) -> None:
        self.book.put(param_set)
        self._changes.params[param_set.key] = param_set

    def on_market_shift(self, mark: RegimeMark) -> None:
        i = bisect.bisect_left(self._market_times, mark.bar_time)
        if i < len(self._market_times) and self._market_times[i] == mark.bar_time:
            self._market[i] = mark  # same bar, later arrival wins (one partition: fixed)
        else:
            self._market.insert(i, mark)
            self._market_times.insert(i, mark.bar_time)
        self._changes.market[mark.bar_time] = mark

    def on_lifecycle(self, pair_id: str, lifecycle: PairLifecycle, as_of: datetime) -> None:
        self._control(pair_id, "lifecycle", as_of, lifecycle=lifecycle)

    def on_pair_regime(self, pair_id: str, mark: RegimeMark) -> None:
        self._control(pair_id, "regime", mark.bar_time, regime=mark.regime, regime_name=mark.name)

    def on_spread(self, obs: SpreadObservation) -> Signal | None:
        state = self._state(obs.pair_id)
        last = state.last_bar_time
        if last is not None and obs.bar_time <= last:
            return None  # a replayed or duplicate bar: the machine would ignore it too
        due = [e for e in state.pending if e.event_time <= obs.bar_time]
        if due:
            state.pending = [e for e in state.pending if e.event_time > obs.bar_time]
            for event in sorted(due, key=lambda e: (e.event_time, e.seq)):
                state.apply(event)
        mark = state.regime if state.regime is not None else self.market_regime_at(obs.bar_time)
        resolved = self.book.resolve(
            obs.pair_id, None if mark is None else mark.regime, None if mark is None else mark.name
        )
        if state.machine is None:
            state.machine = PairSignalMachine(obs.pair_id, resolved.params)
        else:
            state.machine.set_params(resolved.params)
        lifecycle = state.lifecycle if state.lifecycle is not None else self.unknown_lifecycle
        signal = state.machine.on_bar(
            obs, lifecycle, RegimeState(regime_label(mark), no_trade=resolved.no_trade)
        )
        self._dirty.add(obs.pair_id)
        if signal is not None:
            self._changes.signals.append(signal)
        return signal

    # -- queries --------------------------------------------------------------------------

    def market_regime_at(self, bar_time: datetime) -> RegimeMark | None:
        i = bisect.bisect_right(self._market_times, bar_time)
        return self._market[i - 1] if i > 0 else None

    def pair_ids(self) -> list[str]:
        return sorted(self._pairs)

    def record(self, pair_id: str) -> PairRecord:
        return _to_record(self._pairs[pair_id])

    def snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(
            pairs=tuple(_to_record(self._pairs[p]) for p in sorted(self._pairs)),
            params=tuple(self.book.sets()),
            market=tuple(self._market),
        )

    def take_changes(self) -> Changes:
        """What changed since the last call; the caller writes it in its transaction."""
        changes = self._changes
        changes.pairs = {p: _to_record(self._pairs[p]) for p in sorted(self._dirty)}
        self._changes = Changes()
        self._dirty = set()
        return changes

    # -- internals ------------------------------------------------------------------------

    def _state(self, pair_id: str) -> _PairState:
        state = self._pairs.get(pair_id)
        if state is None:
            state = self._pairs[pair_id] = _PairState(pair_id)
        return state

    def _control(
        self,
        pair_id: str,
        kind: ControlKind,
        event_time: datetime,
        *,
        lifecycle: PairLifecycle | None = None,
        regime: int | None = None,
        regime_name: str | None = None,
    ) -> None:
        state = self._state(pair_id)
        event = ControlEvent(kind, state.next_seq, event_time, lifecycle, regime, regime_name)
        state.next_seq += 1
        last = state.last_bar_time
        if last is not None and event_time <= last:
            state.apply(event)  # the stream is already past it: it governs the next bar
        else:
            state.pending.append(event)
        self._dirty.add(pair_id)

    def _restore(self, snapshot: EngineSnapshot) -> None:
        for param_set in snapshot.params:
            self.book.put(param_set)
        for mark in sorted(snapshot.market, key=lambda m: m.bar_time):
            self._market.append(mark)
            self._market_times.append(mark.bar_time)
        for rec in snapshot.pairs:
            self._pairs[rec.pair_id] = _PairState(
                pair_id=rec.pair_id,
                machine=None if rec.machine is None else PairSignalMachine.from_dict(rec.machine),
                lifecycle=rec.lifecycle,
                lifecycle_time=rec.lifecycle_time,
                regime=rec.regime,
                next_seq=rec.next_seq,
                pending=sorted(rec.pending, key=lambda e: e.seq),
            )


def _to_record(state: _PairState) -> PairRecord:
    machine = state.machine
    position = None if machine is None else machine.position
    position_record = None
    if machine is not None and position is not None:
        action = (
            SignalAction.OPEN_LONG_SPREAD
            if position.direction > 0
            else (SignalAction.OPEN_SHORT_SPREAD)
        )
        snapshot = machine.to_dict()["position"]
        position_record = PositionRecord(
            pair_id=state.pair_id,
            opening_signal_id=signal_id(state.pair_id, action, position.entry_time),
            direction=position.direction,
            entry_time=position.entry_time,
            entry_z=position.entry_z,
            hedge_ratio=position.hedge_ratio,
            params_version=position.params.version,
            params=snapshot["params"],
            bars_held=position.bars_held,
            legs=snapshot["legs"],
        )
    return PairRecord(
        pair_id=state.pair_id,
        machine=None if machine is None else machine.to_dict(),
        lifecycle=state.lifecycle,
        lifecycle_time=state.lifecycle_time,
        regime=state.regime,
        next_seq=state.next_seq,
        pending=tuple(state.pending),
        position=position_record,
    )
