"""SQL of the portfolio service: the store port and its PostgreSQL implementation.

Every write is an upsert keyed by a deterministic id (order id, portfolio and bar time), so
a batch re-run after a crash writes the same rows. The book itself is one row, rewritten at
every state change of a batch (its transaction): a restart resumes from exactly the book
the stored offsets imply.
"""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from core.portfolio import BarOutcome
from services.portfolio.desk import Progress


@dataclass(frozen=True)
class StoredBook:
    state_json: str
    progress: Progress


@dataclass(frozen=True)
class OrderQuery:
    status: str | None = None  # planned | filled
    symbol: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    limit: int = 100


class PortfolioStore(abc.ABC):
    """Port: what the handlers and the HTTP API need from storage."""

    @abc.abstractmethod
    async def load_book(self, portfolio_id: str) -> StoredBook | None: ...

    @abc.abstractmethod
    async def save_book(self, portfolio_id: str, book: StoredBook) -> None: ...

    @abc.abstractmethod
    async def record(self, portfolio_id: str, outcomes: list[BarOutcome]) -> None:
        """Orders (planned), rejections, fills (their orders become filled) and marks."""

    @abc.abstractmethod
    async def latest_mark(self, portfolio_id: str) -> dict[str, Any] | None: ...

    @abc.abstractmethod
    async def marks(
        self, portfolio_id: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def orders(self, portfolio_id: str, query: OrderQuery) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def rejections(self, portfolio_id: str, limit: int) -> list[dict[str, Any]]: ...


def order_rows(portfolio_id: str, outcomes: list[BarOutcome]) -> list[tuple[Any, ...]]:
    return [
        (o.order_id, portfolio_id, o.symbol, o.side, o.quantity, o.decided_at,
         o.reference_price, o.target_position,
         json.dumps([[p, q] for p, q in o.contributions]), o.reason)
        for out in outcomes for o in out.orders
    ]  # fmt: skip


def rejection_rows(portfolio_id: str, outcomes: list[BarOutcome]) -> list[tuple[Any, ...]]:
    return [
        (r.order_id, portfolio_id, r.symbol, r.side, r.quantity, r.decided_at, r.reason)
        for out in outcomes for r in out.rejections
    ]  # fmt: skip


def fill_rows(portfolio_id: str, outcomes: list[BarOutcome]) -> list[tuple[Any, ...]]:
    return [
        (f.order_id, portfolio_id, f.filled_at, f.symbol, f.side, f.quantity, f.price, f.cost)
        for out in outcomes for f in out.fills
    ]  # fmt: skip


def mark_rows(portfolio_id: str, outcomes: list[BarOutcome]) -> list[tuple[Any, ...]]:
    rows = []
    for out in outcomes:
        m = out.mark
        positions = [
            {"symbol": p.symbol, "quantity": p.quantity, "price": p.price,
             "market_value": p.market_value}
            for p in m.positions
        ]  # fmt: skip
        pairs = [
            {"pair_id": p.pair_id, "position": p.position, "pnl": p.pnl,
             "cumulative_pnl": p.cumulative_pnl}
            for p in m.pairs
        ]  # fmt: skip
        rows.append(
            (portfolio_id, m.bar_time, m.equity, m.cash, m.pnl, m.gross_exposure,
             m.net_exposure, m.drawdown, m.kill_switch, m.kill_reason, m.costs,
             json.dumps(positions), json.dumps(pairs))
        )  # fmt: skip
    return rows


def _mark(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "bar_time": r["bar_time"].isoformat(),
        "equity": r["equity"],
        "cash": r["cash"],
        "pnl": r["pnl"],
        "gross_exposure": r["gross_exposure"],
        "net_exposure": r["net_exposure"],
        "drawdown": r["drawdown"],
        "kill_switch": r["kill_switch"],
        "kill_reason": r["kill_reason"],
        "costs": r["costs"],
        "positions": json.loads(r["positions"]),
        "pairs": json.loads(r["pairs"]),
    }


def _order(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "order_id": r["order_id"],
        "symbol": r["symbol"],
        "side": r["side"],
        "quantity": r["quantity"],
        "decided_at": r["decided_at"].isoformat(),
        "reference_price": r["reference_price"],
        "target_position": r["target_position"],
        "contributions": [{"pair_id": p, "quantity": q} for p, q in json.loads(r["contributions"])],
        "reason": r["reason"],
        "status": r["status"],
        "filled_at": r["filled_at"].isoformat() if r["filled_at"] else None,
        "fill_price": r["price"],
        "fill_cost": r["cost"],
    }


class PgPortfolioStore(PortfolioStore):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def load_book(self, portfolio_id: str) -> StoredBook | None:
        r = await self.conn.fetchrow(
            "SELECT * FROM book_state WHERE portfolio_id = $1", portfolio_id
        )
        if r is None:
            return None
        progress = Progress(
            r["last_bar_time"],
            Progress.pending_from_json(r["pending_signals"]),
            r["bars"],
            r["late_events"],
        )
        return StoredBook(r["state"], progress)

    async def save_book(self, portfolio_id: str, book: StoredBook) -> None:
        p = book.progress
        await self.conn.execute(
            """INSERT INTO book_state (portfolio_id, state, last_bar_time, pending_signals,
                                       bars, late_events)
               VALUES ($1, $2, $3, $4::jsonb, $5, $6)
               ON CONFLICT (portfolio_id) DO UPDATE SET state = EXCLUDED.state,
                 last_bar_time = EXCLUDED.last_bar_time,
                 pending_signals = EXCLUDED.pending_signals, bars = EXCLUDED.bars,
                 late_events = EXCLUDED.late_events""",
            portfolio_id, book.state_json, p.last_bar_time, p.pending_json(), p.bars,
            p.late_events,
        )  # fmt: skip

    async def record(self, portfolio_id: str, outcomes: list[BarOutcome]) -> None:
        c = self.conn
        if rows := order_rows(portfolio_id, outcomes):
            await c.executemany(
                """INSERT INTO orders (order_id, portfolio_id, symbol, side, quantity,
                     decided_at, reference_price, target_position, contributions, reason)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
                   ON CONFLICT (order_id) DO NOTHING""",
                rows,
            )
        if rows := rejection_rows(portfolio_id, outcomes):
            await c.executemany(
                """INSERT INTO rejections (order_id, portfolio_id, symbol, side, quantity,
                     decided_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (order_id) DO NOTHING""",
                rows,
            )
        if rows := fill_rows(portfolio_id, outcomes):
            await c.executemany(
                """INSERT INTO fills (order_id, portfolio_id, bar_time, symbol, side, quantity,
                     price, cost) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                   ON CONFLICT (order_id) DO NOTHING""",
                rows,
            )
            await c.execute(
                """UPDATE orders o SET status = 'filled', filled_at = f.bar_time
                   FROM fills f WHERE f.order_id = o.order_id
                     AND o.order_id = ANY($1::text[]) AND o.status <> 'filled'""",
                [r[0] for r in rows],
            )
        if rows := mark_rows(portfolio_id, outcomes):
            await c.executemany(
                """INSERT INTO marks (portfolio_id, bar_time, equity, cash, pnl,
                     gross_exposure, net_exposure, drawdown, kill_switch, kill_reason, costs,
                     positions, pairs)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb)
                   ON CONFLICT (portfolio_id, bar_time) DO NOTHING""",
                rows,
            )

    async def latest_mark(self, portfolio_id: str) -> dict[str, Any] | None:
        r = await self.conn.fetchrow(
            "SELECT * FROM marks WHERE portfolio_id = $1 ORDER BY bar_time DESC LIMIT 1",
            portfolio_id,
        )
        return None if r is None else _mark(r)

    async def marks(
        self, portfolio_id: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        # The latest `limit` marks of the range, returned oldest first.
        rows = await self.conn.fetch(
            """SELECT * FROM (
                 SELECT * FROM marks WHERE portfolio_id = $1
                   AND ($2::timestamptz IS NULL OR bar_time >= $2)
                   AND ($3::timestamptz IS NULL OR bar_time <= $3)
                 ORDER BY bar_time DESC LIMIT $4) m ORDER BY bar_time""",
            portfolio_id, start, end, limit,
        )  # fmt: skip
        return [_mark(r) for r in rows]

    async def orders(self, portfolio_id: str, query: OrderQuery) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT o.*, f.price, f.cost FROM orders o
                 LEFT JOIN fills f ON f.order_id = o.order_id
               WHERE o.portfolio_id = $1
                 AND ($2::text IS NULL OR o.status = $2)
                 AND ($3::text IS NULL OR o.symbol = $3)
                 AND ($4::timestamptz IS NULL OR o.decided_at >= $4)
                 AND ($5::timestamptz IS NULL OR o.decided_at <= $5)
               ORDER BY o.decided_at DESC, o.symbol LIMIT $6""",
            portfolio_id, query.status, query.symbol, query.start, query.end, query.limit,
        )  # fmt: skip
        return [_order(r) for r in rows]

    async def rejections(self, portfolio_id: str, limit: int) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            """SELECT * FROM rejections WHERE portfolio_id = $1
               ORDER BY decided_at DESC, symbol LIMIT $2""",
            portfolio_id, limit,
        )  # fmt: skip
        return [
            {"order_id": r["order_id"], "symbol": r["symbol"], "side": r["side"],
             "quantity": r["quantity"], "decided_at": r["decided_at"].isoformat(),
             "reason": r["reason"]}
            for r in rows
        ]  # fmt: skip
