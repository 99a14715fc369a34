"""In-memory SignalsStore for handler and API unit tests (subclasses the port; no mocks)."""

from __future__ import annotations

import copy
import json
from datetime import datetime

from services.signals.domain.convert import signal_payload
from services.signals.domain.records import (
    Changes,
    EngineSnapshot,
    PairRecord,
    ParamSet,
    RegimeMark,
)
from services.signals.store import ActivePosition, SignalsStore, StoredSignal
from shared.events import SignalEmitted


class InMemorySignalsStore(SignalsStore):
    def __init__(self) -> None:
        self.pairs: dict[str, PairRecord] = {}
        self.params: dict[tuple[str, int | None], ParamSet] = {}
        self.market: dict[datetime, RegimeMark] = {}
        self.signals: dict[str, StoredSignal] = {}
        self._seq = 0
        self.saves = 0

    async def load_snapshot(self) -> EngineSnapshot:
        return EngineSnapshot(
            pairs=tuple(copy.deepcopy(self.pairs[p]) for p in sorted(self.pairs)),
            params=tuple(self.params.values()),
            market=tuple(self.market[t] for t in sorted(self.market)),
        )

    async def save(self, changes: Changes) -> None:
        self.saves += 1
        self.params.update(changes.params)
        self.market.update(changes.market)
        # JSON round trip: what PostgreSQL would store must be storable and restorable.
        for pair_id, record in changes.pairs.items():
            json.dumps(record.machine)
            self.pairs[pair_id] = copy.deepcopy(record)
        for signal in changes.signals:
            if signal.signal_id in self.signals:
                continue
            self._seq += 1
            payload = SignalEmitted.model_validate_json(signal_payload(signal).model_dump_json())
            self.signals[signal.signal_id] = StoredSignal(self._seq, payload)

    async def active_positions(self) -> list[ActivePosition]:
        out = []
        for pair_id in sorted(self.pairs):
            position = self.pairs[pair_id].position
            if position is None:
                continue
            opening = self.signals.get(position.opening_signal_id)
            out.append(ActivePosition(position, None if opening is None else opening.signal))
        return out

    async def history(
        self,
        pair_id: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[StoredSignal]:
        rows = [
            s
            for s in self.signals.values()
            if (pair_id is None or s.signal.pair_id == pair_id)
            and (start is None or s.signal.bar_time >= start)
            and (end is None or s.signal.bar_time < end)
        ]
        rows.sort(key=lambda s: (s.signal.bar_time, s.signal.pair_id, s.signal.signal_id))
        return rows[:limit]

    async def signals_after(self, seq: int, limit: int) -> list[StoredSignal]:
        rows = sorted((s for s in self.signals.values() if s.seq > seq), key=lambda s: s.seq)
        return rows[:limit]

    async def last_seq(self) -> int:
        return self._seq
