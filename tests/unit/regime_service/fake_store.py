"""In-memory RegimeStore for handler tests: same port, dictionaries instead of tables."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.regime.store import (
    CloseRow,
    FitRow,
    LoadedState,
    ProbabilityRow,
    RegimeStore,
    ShiftRow,
    TrackerRow,
)


class InMemoryRegimeStore(RegimeStore):
    def __init__(self) -> None:
        self.closes: dict[tuple[str, datetime], CloseRow] = {}
        self.clock: str | None = None
        self.observations: dict[tuple[str, datetime], float] = {}
        self.probabilities: dict[tuple[str, datetime], ProbabilityRow] = {}
        self.fits: dict[tuple[str, str], FitRow] = {}
        self.shift_rows: dict[tuple[str, datetime], ShiftRow] = {}
        self.trackers: dict[str, TrackerRow] = {}

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, for comparing two runs."""
        return copy.deepcopy(
            {
                "closes": self.closes,
                "clock": self.clock,
                "observations": self.observations,
                "probabilities": self.probabilities,
                "fits": self.fits,
                "shifts": self.shift_rows,
                "trackers": self.trackers,
            }
        )

    async def load(self, conn: Any, window_bars: int) -> LoadedState:
        windows: dict[str, list[tuple[datetime, float]]] = {}
        for (scope, t), v in sorted(self.observations.items()):
            windows.setdefault(scope, []).append((t, v))
        # JSON round trip: state comes back as it would from a jsonb column.
        trackers = [
            TrackerRow(**{**_fields(r), "state": json.loads(json.dumps(r.state))})
            for r in self.trackers.values()
        ]
        return LoadedState(
            json.loads(self.clock) if self.clock else None,
            trackers,
            {s: rows[-window_bars:] for s, rows in windows.items()},
        )

    async def save_closes(self, conn: Any, rows: Sequence[CloseRow]) -> None:
        for r in rows:
            held = self.closes.get((r.symbol, r.bar_time))
            if held is None or r.revision >= held.revision:
                self.closes[(r.symbol, r.bar_time)] = r

    async def save_clock(self, conn: Any, state: dict[str, Any]) -> None:
        self.clock = json.dumps(state, sort_keys=True)

    async def save_observations(
        self, conn: Any, rows: Sequence[tuple[str, datetime, float]]
    ) -> None:
        for scope, t, v in rows:
            self.observations[(scope, t)] = v

    async def save_probabilities(self, conn: Any, rows: Sequence[ProbabilityRow]) -> None:
        for r in rows:
            self.probabilities[(r.scope, r.bar_time)] = r

    async def save_fits(self, conn: Any, rows: Sequence[FitRow]) -> None:
        for r in rows:
            self.fits.setdefault((r.scope, r.version), r)

    async def save_shifts(self, conn: Any, rows: Sequence[ShiftRow]) -> None:
        for r in rows:
            self.shift_rows.setdefault((r.scope, r.bar_time), r)

    async def save_trackers(self, conn: Any, rows: Sequence[TrackerRow]) -> None:
        for r in rows:
            self.trackers[r.scope] = r

    async def current(self, conn: Any) -> list[TrackerRow]:
        return [self.trackers[s] for s in sorted(self.trackers)]

    async def has_scope(self, conn: Any, scope: str) -> bool:
        return scope in self.trackers

    async def history(
        self,
        conn: Any,
        scope: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[ProbabilityRow]:
        rows = [
            r
            for (s, t), r in sorted(self.probabilities.items())
            if s == scope and (start is None or t >= start) and (end is None or t < end)
        ]
        return rows[:limit]

    async def last_fit(self, conn: Any, scope: str) -> FitRow | None:
        rows = [r for (s, _), r in self.fits.items() if s == scope]
        return max(rows, key=lambda r: (r.fitted_at, r.version)) if rows else None

    async def shifts(self, conn: Any, scope: str | None = None) -> list[ShiftRow]:
        return [r for (s, _), r in sorted(self.shift_rows.items()) if scope is None or s == scope]


def _fields(row: TrackerRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in TrackerRow.__slots__}
