"""An in-memory ExecutionStore (the port), with a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from services.execution.domain import OrderIntent, OrderRecord
from services.execution.store import ClaimedOrder, ExecutionStore


@dataclass
class Row:
    intent: OrderIntent
    record: OrderRecord
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None


class InMemoryExecutionStore(ExecutionStore):
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}
        self.now = 0.0

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ExecutionStore]:
        yield self

    async def record_intents(self, intents: Sequence[OrderIntent]) -> int:
        new = [i for i in intents if i.order_id not in self.rows]
        for i in new:
            self.rows[i.order_id] = Row(i, OrderRecord(i.order_id, i.client_order_id, "pending"))
        return len({i.order_id for i in new})

    async def claim_due(self, limit: int, lease_s: float) -> list[ClaimedOrder]:
        due = sorted(
            (r for r in self.rows.values()
             if r.record.state == "pending" and r.next_attempt_at <= self.now),
            key=lambda r: (r.intent.decided_at, r.intent.order_id),
        )[:limit]  # fmt: skip
        for r in due:
            r.attempts += 1
            r.next_attempt_at = self.now + lease_s
        return [ClaimedOrder(r.intent, r.attempts) for r in due]

    async def record_outcome(self, record: OrderRecord) -> None:
        row = self.rows[record.order_id]
        if row.record.state == "pending":
            row.record = record

    async def schedule_retry(self, order_id: str, delay_s: float, error: str) -> None:
        row = self.rows[order_id]
        if row.record.state == "pending":
            row.next_attempt_at, row.last_error = self.now + delay_s, error

    async def open_orders(self, limit: int) -> list[OrderRecord]:
        return [r.record for r in self.rows.values() if r.record.state == "open"][:limit]

    async def record_reconciled(self, record: OrderRecord) -> None:
        row = self.rows[record.order_id]
        if row.record.state == "open":
            filled = max(row.record.filled_qty, record.filled_qty)
            row.record = replace(record, filled_qty=filled)

    async def list_orders(
        self, state: str | None, symbol: str | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = sorted(self.rows.values(), key=lambda r: (r.intent.decided_at, r.intent.order_id))
        return [
            self._json(r) for r in rows
            if (state is None or r.record.state == state)
            and (symbol is None or r.intent.symbol == symbol)
        ][:limit]  # fmt: skip

    async def get_order(self, order_id: str) -> dict[str, Any] | None:
        row = self.rows.get(order_id)
        return None if row is None else self._json(row)

    @staticmethod
    def _json(row: Row) -> dict[str, Any]:
        r = row.record
        return {
            "order_id": r.order_id, "client_order_id": r.client_order_id,
            "symbol": row.intent.symbol, "state": r.state, "attempts": row.attempts,
            "broker_order_id": r.broker_order_id, "broker_status": r.broker_status,
            "filled_qty": r.filled_qty, "filled_avg_price": r.filled_avg_price,
            "reason": r.reason, "last_error": row.last_error,
        }  # fmt: skip
