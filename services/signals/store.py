"""Tables of the signals service: the store port, and its PostgreSQL implementation.

Handlers and the HTTP API talk to the port; unit tests use an in-memory fake that
subclasses it, and one contract suite runs against both. The PostgreSQL store works on the
connection it is given (inside the batch transaction for handlers).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.strategy import PairLifecycle, StrategyParams
from services.signals.domain.convert import signal_payload
from services.signals.domain.records import (
    ANY_PAIR,
    Changes,
    ControlEvent,
    EngineSnapshot,
    PairRecord,
    ParamSet,
    PositionRecord,
    RegimeMark,
)
from shared.events import SignalEmitted

MAX_HISTORY_LIMIT = 10_000


@dataclass(frozen=True)
class StoredSignal:
    seq: int
    signal: SignalEmitted


@dataclass(frozen=True)
class ActivePosition:
    position: PositionRecord
    opening_signal: SignalEmitted | None


class SignalsStore(ABC):
    @abstractmethod
    async def load_snapshot(self) -> EngineSnapshot: ...

    @abstractmethod
    async def save(self, changes: Changes) -> None:
        """Write pair states (with pending events and positions), params, regimes, signals."""

    @abstractmethod
    async def active_positions(self) -> list[ActivePosition]: ...

    async def params_in_force(self) -> list[ParamSet]:
        """The parameter set the engine applies per pair key and regime (pair key `*` = every
        pair, regime None = any regime), in key order."""
        return sorted(
            (await self.load_snapshot()).params,
            key=lambda p: (p.pair_key, regime_key(p.regime)),
        )

    @abstractmethod
    async def history(
        self,
        pair_id: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[StoredSignal]:
        """Signals by bar time (start inclusive, end exclusive), oldest first."""

    @abstractmethod
    async def signals_after(self, seq: int, limit: int) -> list[StoredSignal]:
        """Signals committed after `seq`, in commit order (the SSE stream)."""

    @abstractmethod
    async def last_seq(self) -> int: ...


def params_to_json(params: StrategyParams) -> dict[str, Any]:
    return {k: _finite_or_str(v) for k, v in asdict(params).items()}


def params_from_json(raw: dict[str, Any]) -> StrategyParams:
    return StrategyParams(
        entry_z=float(raw["entry_z"]),
        exit_z=float(raw["exit_z"]),
        stop_z=float(raw["stop_z"]),
        lookback=int(raw["lookback"]),
        time_stop_half_lives=float(raw["time_stop_half_lives"]),
        sizing=raw["sizing"],
        version=str(raw["version"]),
    )


def _finite_or_str(value: Any) -> Any:
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def regime_key(regime: int | None) -> str:
    return ANY_PAIR if regime is None else str(regime)


class PostgresSignalsStore(SignalsStore):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def load_snapshot(self) -> EngineSnapshot:
        c = self.conn
        pending: dict[str, list[ControlEvent]] = {}
        for r in await c.fetch(
            "SELECT pair_id, seq, kind, event_time, data FROM pending_control_events"
        ):
            event = ControlEvent.from_json(r["kind"], r["seq"], r["event_time"], _j(r["data"]))
            pending.setdefault(r["pair_id"], []).append(event)
        pairs = [
            PairRecord(
                pair_id=r["pair_id"],
                machine=None if r["machine"] is None else _j(r["machine"]),
                lifecycle=None if r["lifecycle"] is None else PairLifecycle(r["lifecycle"]),
                lifecycle_time=r["lifecycle_time"],
                regime=None
                if r["regime"] is None
                else RegimeMark(r["regime_time"], r["regime"], r["regime_name"]),
                next_seq=r["next_seq"],
                pending=tuple(sorted(pending.get(r["pair_id"], []), key=lambda e: e.seq)),
            )
            for r in await c.fetch("SELECT * FROM pair_state ORDER BY pair_id")
        ]
        params = [
            ParamSet(r["pair_key"], r["regime"], params_from_json(_j(r["params"])), r["no_trade"])
            for r in await c.fetch("SELECT * FROM params ORDER BY pair_key, regime_key")
        ]
        market = [
            RegimeMark(r["bar_time"], r["regime"], r["name"])
            for r in await c.fetch("SELECT * FROM market_regimes ORDER BY bar_time")
        ]
        return EngineSnapshot(tuple(pairs), tuple(params), tuple(market))

    async def params_in_force(self) -> list[ParamSet]:
        rows = await self.conn.fetch(
            "SELECT pair_key, regime, params, no_trade FROM params ORDER BY pair_key, regime_key"
        )
        return [
            ParamSet(r["pair_key"], r["regime"], params_from_json(_j(r["params"])), r["no_trade"])
            for r in rows
        ]

    async def save(self, changes: Changes) -> None:
        c = self.conn
        if changes.params:
            await c.executemany(
                """INSERT INTO params (pair_key, regime_key, regime, version, params, no_trade)
                   VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                   ON CONFLICT (pair_key, regime_key) DO UPDATE SET regime = EXCLUDED.regime,
                     version = EXCLUDED.version, params = EXCLUDED.params,
                     no_trade = EXCLUDED.no_trade, updated_at = now()""",
                [
                    (
                        p.pair_key,
                        regime_key(p.regime),
                        p.regime,
                        p.params.version,
                        json.dumps(params_to_json(p.params)),
                        p.no_trade,
                    )
                    for p in changes.params.values()
                ],
            )
        if changes.market:
            await c.executemany(
                """INSERT INTO market_regimes (bar_time, regime, name) VALUES ($1, $2, $3)
                   ON CONFLICT (bar_time) DO UPDATE
                   SET regime = EXCLUDED.regime, name = EXCLUDED.name""",
                [(m.bar_time, m.regime, m.name) for m in changes.market.values()],
            )
        if changes.pairs:
            await self._save_pairs(list(changes.pairs.values()))
        if changes.signals:
            payloads = [signal_payload(s) for s in changes.signals]
            await c.executemany(
                """INSERT INTO signals (signal_id, pair_id, action, bar_time, payload)
                   VALUES ($1::uuid, $2, $3, $4, $5::jsonb) ON CONFLICT (signal_id) DO NOTHING""",
                [
                    (p.signal_id, p.pair_id, p.action, p.bar_time, p.model_dump_json())
                    for p in payloads
                ],
            )

    async def _save_pairs(self, records: Sequence[PairRecord]) -> None:
        c = self.conn
        # Pair states, the removal of their stored pending events and of the positions of
        # flat pairs, in ONE statement: this runs for every spread, on the tick-to-signal
        # path, and each statement is a round trip. (New pending rows are inserted by a
        # later statement: within one statement the DELETE above would not be visible.)
        flat = [r.pair_id for r in records if r.position is None]
        await c.execute(
            """WITH states AS (
                   INSERT INTO pair_state AS s (pair_id, machine, lifecycle, lifecycle_time,
                       regime, regime_name, regime_time, next_seq)
                   SELECT * FROM unnest($1::text[], $2::jsonb[], $3::text[],
                       $4::timestamptz[], $5::int[], $6::text[], $7::timestamptz[],
                       $8::bigint[])
                   ON CONFLICT (pair_id) DO UPDATE SET machine = EXCLUDED.machine,
                     lifecycle = EXCLUDED.lifecycle, lifecycle_time = EXCLUDED.lifecycle_time,
                     regime = EXCLUDED.regime, regime_name = EXCLUDED.regime_name,
                     regime_time = EXCLUDED.regime_time, next_seq = EXCLUDED.next_seq,
                     updated_at = now()
               ), flat AS (
                   DELETE FROM positions WHERE pair_id = ANY($9::text[])
               )
               DELETE FROM pending_control_events WHERE pair_id = ANY($1::text[])""",
            [r.pair_id for r in records],
            [None if r.machine is None else json.dumps(r.machine) for r in records],
            [None if r.lifecycle is None else r.lifecycle.value for r in records],
            [r.lifecycle_time for r in records],
            [None if r.regime is None else r.regime.regime for r in records],
            [None if r.regime is None else r.regime.name for r in records],
            [None if r.regime is None else r.regime.bar_time for r in records],
            [r.next_seq for r in records],
            flat,
        )
        pending = [
            (r.pair_id, e.seq, e.kind, e.event_time, json.dumps(e.to_json()))
            for r in records
            for e in r.pending
        ]
        if pending:
            await c.executemany(
                """INSERT INTO pending_control_events (pair_id, seq, kind, event_time, data)
                   VALUES ($1, $2, $3, $4, $5::jsonb)""",
                pending,
            )
        held = [r.position for r in records if r.position is not None]
        if held:
            await c.executemany(
                """INSERT INTO positions (pair_id, opening_signal_id, direction, entry_time,
                       entry_z, hedge_ratio, params_version, params, bars_held, legs)
                   VALUES ($1, $2::uuid, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb)
                   ON CONFLICT (pair_id) DO UPDATE SET
                     opening_signal_id = EXCLUDED.opening_signal_id,
                     direction = EXCLUDED.direction, entry_time = EXCLUDED.entry_time,
                     entry_z = EXCLUDED.entry_z, hedge_ratio = EXCLUDED.hedge_ratio,
                     params_version = EXCLUDED.params_version, params = EXCLUDED.params,
                     bars_held = EXCLUDED.bars_held, legs = EXCLUDED.legs""",
                [
                    (
                        p.pair_id,
                        p.opening_signal_id,
                        p.direction,
                        p.entry_time,
                        p.entry_z,
                        p.hedge_ratio,
                        p.params_version,
                        json.dumps(p.params),
                        p.bars_held,
                        json.dumps(p.legs),
                    )
                    for p in held
                ],
            )

    async def active_positions(self) -> list[ActivePosition]:
        rows = await self.conn.fetch(
            """SELECT p.*, s.payload AS opening FROM positions p
               LEFT JOIN signals s ON s.signal_id = p.opening_signal_id ORDER BY p.pair_id"""
        )
        return [
            ActivePosition(
                PositionRecord(
                    pair_id=r["pair_id"],
                    opening_signal_id=str(r["opening_signal_id"]),
                    direction=r["direction"],
                    entry_time=r["entry_time"],
                    entry_z=r["entry_z"],
                    hedge_ratio=r["hedge_ratio"],
                    params_version=r["params_version"],
                    params=_j(r["params"]),
                    bars_held=r["bars_held"],
                    legs=_j(r["legs"]),
                ),
                None if r["opening"] is None else SignalEmitted.model_validate_json(r["opening"]),
            )
            for r in rows
        ]

    async def history(
        self,
        pair_id: str | None,
        start: datetime | None,
        end: datetime | None,
        limit: int,
    ) -> list[StoredSignal]:
        rows = await self.conn.fetch(
            """SELECT seq, payload FROM signals
               WHERE ($1::text IS NULL OR pair_id = $1)
                 AND ($2::timestamptz IS NULL OR bar_time >= $2)
                 AND ($3::timestamptz IS NULL OR bar_time < $3)
               ORDER BY bar_time, pair_id, signal_id LIMIT $4""",
            pair_id,
            start,
            end,
            limit,
        )
        return [_stored(r) for r in rows]

    async def signals_after(self, seq: int, limit: int) -> list[StoredSignal]:
        rows = await self.conn.fetch(
            "SELECT seq, payload FROM signals WHERE seq > $1 ORDER BY seq LIMIT $2", seq, limit
        )
        return [_stored(r) for r in rows]

    async def last_seq(self) -> int:
        value: int = await self.conn.fetchval("SELECT coalesce(max(seq), 0) FROM signals")
        return value


def _j(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str | bytes) else raw


def _stored(row: asyncpg.Record) -> StoredSignal:
    return StoredSignal(row["seq"], SignalEmitted.model_validate_json(row["payload"]))


class DiscardingSignalsStore(SignalsStore):
    """Keeps nothing: for `titan demo --offline`, where the engine lives in memory for one
    run and only the signals it emits matter."""

    async def load_snapshot(self) -> EngineSnapshot:
        return EngineSnapshot()

    async def save(self, changes: Changes) -> None:
        return None

    async def active_positions(self) -> list[ActivePosition]:
        return []

    async def history(
        self, pair_id: str | None, start: datetime | None, end: datetime | None, limit: int
    ) -> list[StoredSignal]:
        return []

    async def signals_after(self, seq: int, limit: int) -> list[StoredSignal]:
        return []

    async def last_seq(self) -> int:
        return 0
