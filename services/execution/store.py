"""The execution adapter's table (`orders`) behind a port; PostgresExecutionStore is the real one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.execution.domain import OrderIntent, OrderRecord

MAX_LIST_LIMIT = 1000


@dataclass(frozen=True)
class ClaimedOrder:
    """A pending order taken by one placement attempt (`attempts` counts this one)."""

    intent: OrderIntent
    attempts: int


class ExecutionStore:
    async def record_intents(self, intents: Sequence[OrderIntent]) -> int:
        """Insert the intents not seen before (by order id); returns how many were new."""
        raise NotImplementedError

    async def claim_due(self, limit: int, lease_s: float) -> list[ClaimedOrder]:
        raise NotImplementedError

    async def record_outcome(self, record: OrderRecord) -> None:
        """Placed (open or already final) or rejected; only a pending order takes it."""
        raise NotImplementedError

    async def schedule_retry(self, order_id: str, delay_s: float, error: str) -> None:
        raise NotImplementedError

    async def open_orders(self, limit: int) -> list[OrderRecord]:
        """Orders at the broker and not final, least recently reconciled first."""
        raise NotImplementedError

    async def record_reconciled(self, record: OrderRecord) -> None:
        raise NotImplementedError

    async def list_orders(
        self, state: str | None, symbol: str | None, limit: int
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def get_order(self, order_id: str) -> dict[str, Any] | None:
        raise NotImplementedError


_COLUMNS = """order_id, client_order_id, portfolio, symbol, side, qty, decided_at, reference_price,
    state, attempts, next_attempt_at, last_error, reason, broker_order_id, broker_status,
    filled_qty, filled_avg_price, placed_at, reconciled_at, recorded_at, updated_at"""


def _intent(row: asyncpg.Record) -> OrderIntent:
    return OrderIntent(
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        portfolio=row["portfolio"],
        symbol=row["symbol"],
        side=row["side"],
        qty=row["qty"],
        decided_at=row["decided_at"],
        reference_price=row["reference_price"],
    )


def _record(row: asyncpg.Record) -> OrderRecord:
    return OrderRecord(
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        state=row["state"],
        broker_order_id=row["broker_order_id"],
        broker_status=row["broker_status"],
        filled_qty=row["filled_qty"],
        filled_avg_price=row["filled_avg_price"],
        reason=row["reason"],
    )


def _json(row: asyncpg.Record) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in dict(row).items():
        out[key] = value.isoformat() if isinstance(value, datetime) else value
    return out


class PostgresExecutionStore(ExecutionStore):
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def record_intents(self, intents: Sequence[OrderIntent]) -> int:
        # One row per order id even when a batch holds a redelivered copy.
        intents = list({i.order_id: i for i in reversed(intents)}.values())
        if not intents:
            return 0
        rows = await self.conn.fetch(
            """INSERT INTO orders (order_id, client_order_id, portfolio, symbol, side, qty,
                                   decided_at, reference_price)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::timestamptz[], $8::float8[])
               ON CONFLICT (order_id) DO NOTHING
               RETURNING order_id""",
            [i.order_id for i in intents],
            [i.client_order_id for i in intents],
            [i.portfolio for i in intents],
            [i.symbol for i in intents],
            [i.side for i in intents],
            [i.qty for i in intents],
            [i.decided_at for i in intents],
            [i.reference_price for i in intents],
        )
        return len(rows)

    async def claim_due(self, limit: int, lease_s: float) -> list[ClaimedOrder]:
        # Counting the attempt and leasing the row commit before any request leaves: a crash
        # mid-request leaves attempts > 1 for the next claimer, which asks the broker first.
        rows = await self.conn.fetch(
            f"""UPDATE orders o
                   SET attempts = o.attempts + 1,
                       next_attempt_at = now() + make_interval(secs => $2),
                       updated_at = now()
                 WHERE o.order_id IN (
                       SELECT order_id FROM orders
                        WHERE state = 'pending' AND next_attempt_at <= now()
                        ORDER BY decided_at, order_id
                        LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING {_COLUMNS}""",
            limit,
            lease_s,
        )
        claimed = [ClaimedOrder(_intent(r), r["attempts"]) for r in rows]
        return sorted(claimed, key=lambda c: (c.intent.decided_at, c.intent.order_id))

    async def record_outcome(self, record: OrderRecord) -> None:
        await self.conn.execute(
            """UPDATE orders
                  SET state = $2, broker_order_id = $3, broker_status = $4, filled_qty = $5,
                      filled_avg_price = $6, reason = $7, last_error = NULL,
                      placed_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,
                      reconciled_at = CASE WHEN $3::text IS NULL THEN NULL ELSE now() END,
                      updated_at = now()
                WHERE order_id = $1 AND state = 'pending'""",
            *_values(record),
        )

    async def schedule_retry(self, order_id: str, delay_s: float, error: str) -> None:
        await self.conn.execute(
            """UPDATE orders
                  SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3,
                      updated_at = now()
                WHERE order_id = $1 AND state = 'pending'""",
            order_id,
            delay_s,
            error[:2000],
        )

    async def open_orders(self, limit: int) -> list[OrderRecord]:
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM orders WHERE state = 'open'
                ORDER BY reconciled_at NULLS FIRST, order_id LIMIT $1""",
            limit,
        )
        return [_record(r) for r in rows]

    async def record_reconciled(self, record: OrderRecord) -> None:
        # Only an open order moves: a concurrent reconciler's final answer is never undone.
        await self.conn.execute(
            """UPDATE orders
                  SET state = $2, broker_order_id = $3, broker_status = $4,
                      filled_qty = greatest(filled_qty, $5), filled_avg_price = $6, reason = $7,
                      reconciled_at = now(), updated_at = now()
                WHERE order_id = $1 AND state = 'open'""",
            *_values(record),
        )

    async def list_orders(
        self, state: str | None, symbol: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            f"""SELECT {_COLUMNS} FROM orders
                WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR symbol = $2)
                ORDER BY decided_at, order_id LIMIT $3""",
            state,
            symbol,
            min(limit, MAX_LIST_LIMIT),
        )
        return [_json(r) for r in rows]

    async def get_order(self, order_id: str) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM orders WHERE order_id = $1", order_id
        )
        return None if row is None else _json(row)


def _values(record: OrderRecord) -> tuple[Any, ...]:
    return (
        record.order_id,
        record.state,
        record.broker_order_id,
        record.broker_status,
        record.filled_qty,
        record.filled_avg_price,
        record.reason,
    )
