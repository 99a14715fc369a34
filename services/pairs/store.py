"""SQL of the pairs service: the store port, and its PostgreSQL implementation.

Every write is an upsert keyed by a deterministic id, so re-running a batch after a crash
writes the same rows. The in-memory fake used by handler tests subclasses the port
(tests/unit/pairs_service/fake_store.py); one contract suite runs against both.
"""

from __future__ import annotations

import abc
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.pairs.domain.lifecycle import PairRecord
from services.pairs.domain.pipeline import Effects
from services.pairs.domain.spread import TrackerState
from services.pairs.domain.universe import BarClose, DeferredBar

SPREAD_COLUMNS = ("bar_time", "price_a", "price_b", "spread", "z_score", "hedge_ratio", "half_life")


@dataclass(frozen=True)
class ClockRow:
    n_complete: int
    last_complete: datetime | None
    steps: int = 0


@dataclass(frozen=True)
class Snapshot:
    clock: ClockRow
    times: list[datetime]  # last `keep_rows` complete times, oldest first
    rows: list[BarClose]  # bars at those times and after (pending)
    latest: dict[str, datetime]
    deferred: list[DeferredBar]
    pairs: list[PairRecord]
    trackers: list[TrackerState]


@dataclass(frozen=True)
class ScreenRequest:
    request_id: uuid.UUID
    requested_at: datetime
    as_of: datetime | None
    status: str
    outcome: str | None


class PairsStore(abc.ABC):
    """Port: everything the handlers and the HTTP API need from storage."""

    @abc.abstractmethod
    async def lock_clock(self, interval: str) -> ClockRow:
        """Read the clock row, locking it until the transaction ends (serialises screens)."""

    @abc.abstractmethod
    async def load_snapshot(self, interval: str, keep_rows: int) -> Snapshot: ...

    @abc.abstractmethod
    async def apply(self, interval: str, fx: Effects) -> None:
        """Write one step's effects (inside the caller's transaction)."""

    @abc.abstractmethod
    async def pending_requests(self, interval: str) -> list[ScreenRequest]: ...

    @abc.abstractmethod
    async def add_screen_request(
        self, interval: str, request_id: uuid.UUID, requested_at: datetime
    ) -> ScreenRequest:
        """Record a request as of the latest complete bar time (call with the clock locked)."""

    @abc.abstractmethod
    async def screen_request(self, request_id: uuid.UUID) -> ScreenRequest | None: ...

    @abc.abstractmethod
    async def list_pairs(self, state: str | None) -> list[PairRecord]: ...

    @abc.abstractmethod
    async def pair_tests(self, pair_id: str, limit: int) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def closes(
        self, interval: str, symbols: list[str], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]: ...

    @abc.abstractmethod
    async def known_symbols(self, interval: str, symbols: list[str]) -> set[str]: ...


def latest_revisions(bars: list[BarClose]) -> list[BarClose]:
    """One row per (symbol, bar_time): what upserting ``bars`` one by one in order, each
    only over a revision <= its own, would leave (the highest revision, the later on ties).
    A single INSERT ... ON CONFLICT DO UPDATE may not touch one row twice."""
    kept: dict[tuple[str, datetime], BarClose] = {}
    for bar in bars:
        key = (bar.symbol, bar.bar_time)
        old = kept.get(key)
        if old is None or old.revision <= bar.revision:
            kept[key] = bar
    return list(kept.values())


def _pair(r: asyncpg.Record) -> PairRecord:
    return PairRecord(
        r["pair_id"], r["a"], r["b"], r["state"], r["since"],
        r["passes"], r["strikes"], r["degraded_screens"], r["screens"],
    )  # fmt: skip


def _tracker(r: asyncpg.Record) -> TrackerState:
    c = list(r["cov"])
    return TrackerState(
        r["pair_id"], r["a"], r["b"], r["hedge_ratio"], r["intercept"],
        (c[0], c[1], c[2], c[3]), tuple(r["history"]), r["n_updates"],
        r["last_bar_time"], r["half_life"],
    )  # fmt: skip


def _request(r: asyncpg.Record) -> ScreenRequest:
    return ScreenRequest(r["request_id"], r["requested_at"], r["as_of"], r["status"], r["outcome"])


class PgPairsStore(PairsStore):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def lock_clock(self, interval: str) -> ClockRow:
        # One round trip per batch once the row exists (every batch but the first).
        for _ in range(2):
            row = await self.conn.fetchrow(
                "SELECT n_complete, last_complete, steps FROM universe_clock"
                " WHERE interval = $1 FOR UPDATE",
                interval,
            )
            if row is not None:
                return ClockRow(row["n_complete"], row["last_complete"], row["steps"])
            await self.conn.execute(
                "INSERT INTO universe_clock (interval, n_complete) VALUES ($1, 0)"
                " ON CONFLICT DO NOTHING",
                interval,
            )
        raise RuntimeError(f"universe_clock row of {interval} vanished while being locked")

    async def load_snapshot(self, interval: str, keep_rows: int) -> Snapshot:
        c = self.conn
        clock_row = await c.fetchrow(
            "SELECT n_complete, last_complete, steps FROM universe_clock WHERE interval = $1",
            interval,
        )
        clock = (
            ClockRow(clock_row["n_complete"], clock_row["last_complete"], clock_row["steps"])
            if clock_row
            else ClockRow(0, None)
        )
        times = [
            r["bar_time"]
            for r in await c.fetch(
                "SELECT bar_time FROM universe_times WHERE interval = $1 AND seq > $2 ORDER BY seq",
                interval,
                clock.n_complete - keep_rows,
            )
        ]
        since = times[0] if times else None
        rows = [
            BarClose(r["symbol"], r["bar_time"], r["close"], r["revision"])
            for r in await c.fetch(
                "SELECT symbol, bar_time, close, revision FROM bar_closes"
                " WHERE interval = $1 AND ($2::timestamptz IS NULL OR bar_time >= $2)"
                " ORDER BY bar_time, symbol",
                interval,
                since,
            )
        ]
        latest = {
            r["symbol"]: r["t"]
            for r in await c.fetch(
                "SELECT symbol, max(bar_time) AS t FROM bar_closes WHERE interval = $1"
                " GROUP BY symbol",
                interval,
            )
        }
        deferred = [
            DeferredBar(
                BarClose(r["symbol"], r["bar_time"], r["close"], r["revision"]), r["applies_after"]
            )
            for r in await c.fetch("SELECT * FROM pending_revisions WHERE interval = $1", interval)
        ]
        pairs = [_pair(r) for r in await c.fetch("SELECT * FROM pairs ORDER BY pair_id")]
        trackers = [
            _tracker(r) for r in await c.fetch("SELECT * FROM kalman_state ORDER BY pair_id")
        ]
        return Snapshot(clock, times, rows, latest, deferred, pairs, trackers)

    async def apply(self, interval: str, fx: Effects) -> None:
        c = self.conn
        deferred_key = [
            (d.bar.symbol, interval, d.bar.bar_time, d.bar.revision, d.after)
            for d in fx.deferred_added
        ]
        if deferred_key:
            await c.executemany(
                "INSERT INTO pending_revisions"
                " (symbol, interval, bar_time, revision, applies_after, close)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                [(*k, d.bar.close) for k, d in zip(deferred_key, fx.deferred_added, strict=True)],
            )
        if fx.deferred_applied:
            await c.executemany(
                "DELETE FROM pending_revisions WHERE symbol = $1 AND interval = $2"
                " AND bar_time = $3 AND revision = $4 AND applies_after = $5",
                [(d.bar.symbol, interval, d.bar.bar_time, d.bar.revision, d.after)
                 for d in fx.deferred_applied],
            )  # fmt: skip
        await self._write_clock(interval, fx)
        await self._write_pairs(fx)

    async def _write_clock(self, interval: str, fx: Effects) -> None:
        """Closes, completed times and the clock row in ONE statement (one round trip per
        batch instead of three: this runs for every bar, on the tick-to-signal path)."""
        bars = latest_revisions([*fx.stored_bars, *(d.bar for d in fx.deferred_applied)])
        if fx.clock is None:
            fx_clock: tuple[int | None, datetime | None, int | None] = (None, None, None)
        else:
            fx_clock = fx.clock
        if not bars and not fx.completed and fx.clock is None:
            return
        await self.conn.execute(
            """
            WITH closes AS (
                INSERT INTO bar_closes (symbol, interval, bar_time, close, revision)
                SELECT symbol, $1, bar_time, close, revision
                  FROM unnest($2::text[], $3::timestamptz[], $4::float8[], $5::int[])
                       AS u(symbol, bar_time, close, revision)
                ON CONFLICT (interval, symbol, bar_time) DO UPDATE
                   SET close = EXCLUDED.close, revision = EXCLUDED.revision
                 WHERE bar_closes.revision <= EXCLUDED.revision
            ), times AS (
                INSERT INTO universe_times (interval, seq, bar_time)
                SELECT $1, seq, bar_time FROM unnest($6::bigint[], $7::timestamptz[])
                       AS u(seq, bar_time)
                ON CONFLICT (interval, seq) DO UPDATE SET bar_time = EXCLUDED.bar_time
            )
            INSERT INTO universe_clock (interval, n_complete, last_complete, steps)
            SELECT $1, $8, $9, $10 WHERE $8::bigint IS NOT NULL
            ON CONFLICT (interval) DO UPDATE
               SET n_complete = EXCLUDED.n_complete, last_complete = EXCLUDED.last_complete,
                   steps = EXCLUDED.steps
            """,
            interval,
            [b.symbol for b in bars],
            [b.bar_time for b in bars],
            [b.close for b in bars],
            [b.revision for b in bars],
            [seq for seq, _ in fx.completed],
            [t for _, t in fx.completed],
            *fx_clock,
        )

    async def _write_pairs(self, fx: Effects) -> None:
        c = self.conn
        if fx.tests:
            await c.executemany(
                "INSERT INTO pair_tests (pair_id, screen_id, as_of, passed, pvalue_adjusted,"
                " payload) VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING",
                [(t.pair_id, t.screen_id, t.as_of, t.passed, t.payload.pvalue_adjusted,
                  t.payload.model_dump_json()) for t in fx.tests],
            )  # fmt: skip
        if fx.pairs:
            await c.executemany(
                "INSERT INTO pairs (pair_id, a, b, state, since, passes, strikes,"
                " degraded_screens, screens) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                " ON CONFLICT (pair_id) DO UPDATE SET state = EXCLUDED.state,"
                " since = EXCLUDED.since, passes = EXCLUDED.passes, strikes = EXCLUDED.strikes,"
                " degraded_screens = EXCLUDED.degraded_screens, screens = EXCLUDED.screens",
                [(p.pair_id, p.a, p.b, p.state, p.since, p.passes, p.strikes,
                  p.degraded_screens, p.screens) for p in fx.pairs.values()],
            )  # fmt: skip
        if fx.trackers_removed:
            await c.execute(
                "DELETE FROM kalman_state WHERE pair_id = ANY($1::text[])",
                sorted(fx.trackers_removed),
            )
        if fx.trackers:
            await c.executemany(
                "INSERT INTO kalman_state (pair_id, a, b, hedge_ratio, intercept, cov, history,"
                " n_updates, last_bar_time, half_life)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (pair_id) DO UPDATE SET hedge_ratio = EXCLUDED.hedge_ratio,"
                " intercept = EXCLUDED.intercept, cov = EXCLUDED.cov, history = EXCLUDED.history,"
                " n_updates = EXCLUDED.n_updates, last_bar_time = EXCLUDED.last_bar_time,"
                " half_life = EXCLUDED.half_life",
                [(t.pair_id, t.a, t.b, t.hedge_ratio, t.intercept, list(t.cov), list(t.history),
                  t.n_updates, t.last_bar_time, t.half_life) for t in fx.trackers.values()],
            )  # fmt: skip
        if fx.spreads:
            await c.executemany(
                "INSERT INTO spreads (pair_id, bar_time, price_a, price_b, spread, z_score,"
                " hedge_ratio, intercept, hedge_ratio_variance, half_life)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                " ON CONFLICT (pair_id, bar_time) DO NOTHING",
                [(p.pair_id, p.bar_time, p.price_a, p.price_b, p.spread, p.z_score,
                  p.hedge_ratio, p.intercept, p.hedge_ratio_variance, p.half_life)
                 for p in fx.spreads],
            )  # fmt: skip
        if fx.screens:
            await c.executemany(
                "UPDATE screen_requests SET status = 'done', outcome = $2, as_of = $3"
                " WHERE request_id = $1",
                [(sid, why, as_of) for sid, as_of, why in fx.screens],
            )

    async def pending_requests(self, interval: str) -> list[ScreenRequest]:
        rows = await self.conn.fetch(
            "SELECT * FROM screen_requests WHERE interval = $1 AND status = 'pending'"
            " ORDER BY requested_at, request_id",
            interval,
        )
        return [_request(r) for r in rows]

    async def add_screen_request(
        self, interval: str, request_id: uuid.UUID, requested_at: datetime
    ) -> ScreenRequest:
        clock = await self.lock_clock(interval)
        row = await self.conn.fetchrow(
            "INSERT INTO screen_requests (request_id, interval, requested_at, as_of)"
            " VALUES ($1, $2, $3, $4) RETURNING *",
            request_id,
            interval,
            requested_at,
            clock.last_complete,
        )
        assert row is not None
        return _request(row)

    async def screen_request(self, request_id: uuid.UUID) -> ScreenRequest | None:
        row = await self.conn.fetchrow(
            "SELECT * FROM screen_requests WHERE request_id = $1", request_id
        )
        return _request(row) if row else None

    async def list_pairs(self, state: str | None) -> list[PairRecord]:
        rows = await self.conn.fetch(
            "SELECT * FROM pairs WHERE $1::text IS NULL OR state = $1 ORDER BY pair_id", state
        )
        return [_pair(r) for r in rows]

    async def pair_tests(self, pair_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            "SELECT payload, passed, screen_id FROM pair_tests WHERE pair_id = $1"
            " ORDER BY as_of DESC, screen_id LIMIT $2",
            pair_id,
            limit,
        )
        return [
            {**json.loads(r["payload"]), "passed": r["passed"], "screen_id": str(r["screen_id"])}
            for r in rows
        ]

    async def latest_tests(self) -> dict[str, dict[str, Any]]:
        """Every pair's most recent test (the payload of its PairTested and `passed`)."""
        rows = await self.conn.fetch(
            "SELECT DISTINCT ON (pair_id) pair_id, payload, passed FROM pair_tests"
            " ORDER BY pair_id, as_of DESC, screen_id"
        )
        return {r["pair_id"]: {**json.loads(r["payload"]), "passed": r["passed"]} for r in rows}

    async def spreads(self, pair_id: str, limit: int) -> dict[str, list[Any]]:
        """The pair's last `limit` spread rows, oldest first, one list per column."""
        rows = await self.conn.fetch(
            "SELECT bar_time, price_a, price_b, spread, z_score, hedge_ratio, half_life"
            " FROM (SELECT * FROM spreads WHERE pair_id = $1 ORDER BY bar_time DESC LIMIT $2)"
            " AS latest ORDER BY bar_time",
            pair_id,
            limit,
        )
        return {k: [r[k] for r in rows] for k in SPREAD_COLUMNS}

    async def closes(
        self, interval: str, symbols: list[str], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        rows = await self.conn.fetch(
            "SELECT symbol, bar_time, close FROM bar_closes WHERE interval = $1"
            " AND symbol = ANY($2::text[]) AND bar_time >= $3 AND bar_time <= $4"
            " ORDER BY bar_time",
            interval,
            symbols,
            start,
            end,
        )
        out: dict[str, list[tuple[datetime, float]]] = {s: [] for s in symbols}
        for r in rows:
            out[r["symbol"]].append((r["bar_time"], r["close"]))
        return out

    async def known_symbols(self, interval: str, symbols: list[str]) -> set[str]:
        rows = await self.conn.fetch(
            "SELECT DISTINCT symbol FROM bar_closes WHERE interval = $1"
            " AND symbol = ANY($2::text[])",
            interval,
            symbols,
        )
        return {r["symbol"] for r in rows}
