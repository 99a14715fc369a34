"""SQL of the regime service behind a port; the in-memory fake for tests subclasses the port."""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg


@dataclass(frozen=True, slots=True)
class ProbabilityRow:
    scope: str
    bar_time: datetime
    probabilities: tuple[float, ...]
    label: int
    regime: int | None
    model_version: str


@dataclass(frozen=True, slots=True)
class ShiftRow:
    scope: str
    bar_time: datetime
    event_id: uuid.UUID
    from_regime: int | None
    to_regime: int
    from_name: str | None
    to_name: str
    probability: float
    model: str
    model_version: str


@dataclass(frozen=True, slots=True)
class FitRow:
    scope: str
    version: str
    fitted_at: datetime
    model: dict[str, Any]
    window_start: datetime
    window_end: datetime
    nobs: int
    llf: float


@dataclass(frozen=True, slots=True)
class TrackerRow:
    scope: str
    kind: str
    bar_time: datetime | None
    regime: int | None
    regime_name: str | None
    label: int | None
    probabilities: tuple[float, ...] | None
    model_version: str | None
    state: dict[str, Any]
    spread_input: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CloseRow:
    symbol: str
    bar_time: datetime
    close: float
    revision: int


@dataclass
class LoadedState:
    clock: dict[str, Any] | None
    trackers: list[TrackerRow]
    windows: dict[str, list[tuple[datetime, float]]] = field(default_factory=dict)


class RegimeStore(ABC):
    """Every effect is an upsert keyed by a deterministic key, so a re-run batch is harmless."""

    @abstractmethod
    async def load(self, conn: Any, window_bars: int) -> LoadedState: ...

    @abstractmethod
    async def save_closes(self, conn: Any, rows: Sequence[CloseRow]) -> None: ...

    @abstractmethod
    async def save_clock(self, conn: Any, state: dict[str, Any]) -> None: ...

    @abstractmethod
    async def save_observations(
        self, conn: Any, rows: Sequence[tuple[str, datetime, float]]
    ) -> None: ...

    @abstractmethod
    async def save_probabilities(self, conn: Any, rows: Sequence[ProbabilityRow]) -> None: ...

    @abstractmethod
    async def save_fits(self, conn: Any, rows: Sequence[FitRow]) -> None: ...

    @abstractmethod
    async def save_shifts(self, conn: Any, rows: Sequence[ShiftRow]) -> None: ...

    @abstractmethod
    async def save_trackers(self, conn: Any, rows: Sequence[TrackerRow]) -> None: ...

    @abstractmethod
    async def current(self, conn: Any) -> list[TrackerRow]: ...

    @abstractmethod
    async def has_scope(self, conn: Any, scope: str) -> bool: ...

    @abstractmethod
    async def history(
        self,
        conn: Any,
        scope: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[ProbabilityRow]:
        """Rows with start <= bar_time < end, oldest first."""

    @abstractmethod
    async def last_fit(self, conn: Any, scope: str) -> FitRow | None: ...

    @abstractmethod
    async def shifts(self, conn: Any, scope: str | None = None) -> list[ShiftRow]:
        """Shifts in (scope, bar_time) order."""


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=False)


def _tuple(value: Sequence[float] | None) -> tuple[float, ...] | None:
    return None if value is None else tuple(float(x) for x in value)


class PostgresRegimeStore(RegimeStore):
    async def load(self, conn: asyncpg.Connection, window_bars: int) -> LoadedState:
        clock = await conn.fetchval("SELECT state FROM universe_clock WHERE id = 1")
        trackers = [_tracker(r) for r in await conn.fetch("SELECT * FROM tracker_state")]
        rows = await conn.fetch(
            """SELECT scope, bar_time, value FROM (
                   SELECT *, row_number() OVER (PARTITION BY scope ORDER BY bar_time DESC) AS rn
                   FROM observations) o
               WHERE rn <= $1 ORDER BY scope, bar_time""",
            window_bars,
        )
        windows: dict[str, list[tuple[datetime, float]]] = {}
        for r in rows:
            windows.setdefault(r["scope"], []).append((r["bar_time"], r["value"]))
        return LoadedState(json.loads(clock) if clock else None, trackers, windows)

    async def save_closes(self, conn: asyncpg.Connection, rows: Sequence[CloseRow]) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO market_closes (symbol, bar_time, close, revision)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (symbol, bar_time) DO UPDATE
                   SET close = EXCLUDED.close, revision = EXCLUDED.revision
                   WHERE EXCLUDED.revision >= market_closes.revision""",
                [(r.symbol, r.bar_time, r.close, r.revision) for r in rows],
            )

    async def save_clock(self, conn: asyncpg.Connection, state: dict[str, Any]) -> None:
        await conn.execute(
            """INSERT INTO universe_clock (id, state) VALUES (1, $1::jsonb)
               ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state""",
            _j(state),
        )

    async def save_observations(
        self, conn: asyncpg.Connection, rows: Sequence[tuple[str, datetime, float]]
    ) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO observations (scope, bar_time, value) VALUES ($1, $2, $3)
                   ON CONFLICT (scope, bar_time) DO UPDATE SET value = EXCLUDED.value""",
                list(rows),
            )

    async def save_probabilities(
        self, conn: asyncpg.Connection, rows: Sequence[ProbabilityRow]
    ) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO regime_probabilities
                       (scope, bar_time, probabilities, label, regime, model_version)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (scope, bar_time) DO UPDATE SET
                       probabilities = EXCLUDED.probabilities, label = EXCLUDED.label,
                       regime = EXCLUDED.regime, model_version = EXCLUDED.model_version""",
                [
                    (r.scope, r.bar_time, list(r.probabilities), r.label, r.regime, r.model_version)
                    for r in rows
                ],
            )

    async def save_fits(self, conn: asyncpg.Connection, rows: Sequence[FitRow]) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO model_fits (scope, version, fitted_at, model, window_start,
                                           window_end, nobs, llf)
                   VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
                   ON CONFLICT (scope, version) DO NOTHING""",
                [
                    (
                        r.scope,
                        r.version,
                        r.fitted_at,
                        _j(r.model),
                        r.window_start,
                        r.window_end,
                        r.nobs,
                        r.llf,
                    )
                    for r in rows
                ],
            )

    async def save_shifts(self, conn: asyncpg.Connection, rows: Sequence[ShiftRow]) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO shifts (scope, bar_time, event_id, from_regime, to_regime,
                       from_name, to_name, probability, model, model_version)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (scope, bar_time) DO NOTHING""",
                [
                    (
                        r.scope,
                        r.bar_time,
                        r.event_id,
                        r.from_regime,
                        r.to_regime,
                        r.from_name,
                        r.to_name,
                        r.probability,
                        r.model,
                        r.model_version,
                    )
                    for r in rows
                ],
            )

    async def save_trackers(self, conn: asyncpg.Connection, rows: Sequence[TrackerRow]) -> None:
        if rows:
            await conn.executemany(
                """INSERT INTO tracker_state (scope, kind, bar_time, regime, regime_name, label,
                       probabilities, model_version, state, spread_input)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)
                   ON CONFLICT (scope) DO UPDATE SET kind = EXCLUDED.kind,
                       bar_time = EXCLUDED.bar_time, regime = EXCLUDED.regime,
                       regime_name = EXCLUDED.regime_name, label = EXCLUDED.label,
                       probabilities = EXCLUDED.probabilities,
                       model_version = EXCLUDED.model_version, state = EXCLUDED.state,
                       spread_input = EXCLUDED.spread_input""",
                [
                    (
                        r.scope,
                        r.kind,
                        r.bar_time,
                        r.regime,
                        r.regime_name,
                        r.label,
                        list(r.probabilities) if r.probabilities is not None else None,
                        r.model_version,
                        _j(r.state),
                        _j(r.spread_input) if r.spread_input is not None else None,
                    )
                    for r in rows
                ],
            )

    async def current(self, conn: asyncpg.Connection) -> list[TrackerRow]:
        return [_tracker(r) for r in await conn.fetch("SELECT * FROM tracker_state ORDER BY scope")]

    async def has_scope(self, conn: asyncpg.Connection, scope: str) -> bool:
        found: bool = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM tracker_state WHERE scope = $1)", scope
        )
        return found

    async def history(
        self,
        conn: asyncpg.Connection,
        scope: str,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[ProbabilityRow]:
        rows = await conn.fetch(
            """SELECT * FROM regime_probabilities
               WHERE scope = $1 AND ($2::timestamptz IS NULL OR bar_time >= $2)
                 AND ($3::timestamptz IS NULL OR bar_time < $3)
               ORDER BY bar_time LIMIT $4""",
            scope,
            start,
            end,
            limit,
        )
        return [
            ProbabilityRow(
                r["scope"],
                r["bar_time"],
                tuple(r["probabilities"]),
                r["label"],
                r["regime"],
                r["model_version"],
            )
            for r in rows
        ]

    async def last_fit(self, conn: asyncpg.Connection, scope: str) -> FitRow | None:
        r = await conn.fetchrow(
            """SELECT * FROM model_fits WHERE scope = $1
               ORDER BY fitted_at DESC, version DESC LIMIT 1""",
            scope,
        )
        if r is None:
            return None
        return FitRow(
            r["scope"],
            r["version"],
            r["fitted_at"],
            json.loads(r["model"]),
            r["window_start"],
            r["window_end"],
            r["nobs"],
            r["llf"],
        )

    async def shifts(self, conn: asyncpg.Connection, scope: str | None = None) -> list[ShiftRow]:
        rows = await conn.fetch(
            """SELECT * FROM shifts WHERE ($1::text IS NULL OR scope = $1)
               ORDER BY scope, bar_time""",
            scope,
        )
        return [
            ShiftRow(
                r["scope"],
                r["bar_time"],
                r["event_id"],
                r["from_regime"],
                r["to_regime"],
                r["from_name"],
                r["to_name"],
                r["probability"],
                r["model"],
                r["model_version"],
            )
            for r in rows
        ]


def _tracker(r: asyncpg.Record) -> TrackerRow:
    return TrackerRow(
        scope=r["scope"],
        kind=r["kind"],
        bar_time=r["bar_time"],
        regime=r["regime"],
        regime_name=r["regime_name"],
        label=r["label"],
        probabilities=_tuple(r["probabilities"]),
        model_version=r["model_version"],
        state=json.loads(r["state"]),
        spread_input=json.loads(r["spread_input"]) if r["spread_input"] is not None else None,
    )


class DiscardingRegimeStore(RegimeStore):
    """Keeps nothing: for `titan demo --offline`, where the service's state lives in memory
    for one run and only the events it emits matter."""

    async def load(self, conn: Any, window_bars: int) -> LoadedState:
        return LoadedState(None, [])

    async def save_closes(self, conn: Any, rows: Sequence[CloseRow]) -> None:
        return None

    async def save_clock(self, conn: Any, state: dict[str, Any]) -> None:
        return None

    async def save_observations(
        self, conn: Any, rows: Sequence[tuple[str, datetime, float]]
    ) -> None:
        return None

    async def save_probabilities(self, conn: Any, rows: Sequence[ProbabilityRow]) -> None:
        return None

    async def save_fits(self, conn: Any, rows: Sequence[FitRow]) -> None:
        return None

    async def save_shifts(self, conn: Any, rows: Sequence[ShiftRow]) -> None:
        return None

    async def save_trackers(self, conn: Any, rows: Sequence[TrackerRow]) -> None:
        return None

    async def current(self, conn: Any) -> list[TrackerRow]:
        return []

    async def has_scope(self, conn: Any, scope: str) -> bool:
        return False

    async def history(
        self, conn: Any, scope: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[ProbabilityRow]:
        return []

    async def last_fit(self, conn: Any, scope: str) -> FitRow | None:
        return None

    async def shifts(self, conn: Any, scope: str | None = None) -> list[ShiftRow]:
        return []
