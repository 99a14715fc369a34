"""In-memory PortfolioStore: the handler and API tests' fake (subclasses the port)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from core.portfolio import BarOutcome
from services.portfolio.store import (
    OrderQuery,
    PortfolioStore,
    StoredBook,
    fill_rows,
    mark_rows,
    order_rows,
    rejection_rows,
)


class InMemoryPortfolioStore(PortfolioStore):
    def __init__(self) -> None:
        self.books: dict[str, StoredBook] = {}
        self.orders_: dict[str, dict[str, Any]] = {}
        self.rejections_: dict[str, dict[str, Any]] = {}
        self.fills: dict[str, tuple[Any, ...]] = {}
        self.marks_: dict[tuple[str, datetime], tuple[Any, ...]] = {}

    def tables(self) -> dict[str, Any]:
        """Everything stored, comparable between runs."""
        return {
            "books": {k: (b.state_json, b.progress) for k, b in self.books.items()},
            "orders": self.orders_, "rejections": self.rejections_, "fills": self.fills,
            "marks": self.marks_,
        }  # fmt: skip

    async def load_book(self, portfolio_id: str) -> StoredBook | None:
        return copy.deepcopy(self.books.get(portfolio_id))

    async def save_book(self, portfolio_id: str, book: StoredBook) -> None:
        self.books[portfolio_id] = copy.deepcopy(book)

    async def record(self, portfolio_id: str, outcomes: list[BarOutcome]) -> None:
        for r in order_rows(portfolio_id, outcomes):
            self.orders_.setdefault(r[0], {"row": r, "status": "planned", "filled_at": None})
        for r in rejection_rows(portfolio_id, outcomes):
            self.rejections_.setdefault(r[0], {"row": r})
        for r in fill_rows(portfolio_id, outcomes):
            self.fills.setdefault(r[0], r)
            if r[0] in self.orders_:
                self.orders_[r[0]].update(status="filled", filled_at=r[2])
        for r in mark_rows(portfolio_id, outcomes):
            self.marks_.setdefault((r[0], r[1]), r)

    def _mark(self, r: tuple[Any, ...]) -> dict[str, Any]:
        import json

        keys = ("portfolio_id", "bar_time", "equity", "cash", "pnl", "gross_exposure",
                "net_exposure", "drawdown", "kill_switch", "kill_reason", "costs")  # fmt: skip
        out = dict(zip(keys, r[:11], strict=True))
        out.pop("portfolio_id")
        out["bar_time"] = out["bar_time"].isoformat()
        out["positions"], out["pairs"] = json.loads(r[11]), json.loads(r[12])
        return out

    async def latest_mark(self, portfolio_id: str) -> dict[str, Any] | None:
        rows = sorted(r for k, r in self.marks_.items() if k[0] == portfolio_id)
        return self._mark(rows[-1]) if rows else None

    async def marks(
        self, portfolio_id: str, start: datetime | None, end: datetime | None, limit: int
    ) -> list[dict[str, Any]]:
        rows = sorted(
            r for (p, t), r in self.marks_.items()
            if p == portfolio_id and (start is None or t >= start) and (end is None or t <= end)
        )  # fmt: skip
        return [self._mark(r) for r in rows[-limit:]]

    async def orders(self, portfolio_id: str, query: OrderQuery) -> list[dict[str, Any]]:
        import json

        out = []
        for oid, o in self.orders_.items():
            r = o["row"]
            if r[1] != portfolio_id or (query.status and o["status"] != query.status):
                continue
            if query.symbol and r[2] != query.symbol:
                continue
            if (query.start and r[5] < query.start) or (query.end and r[5] > query.end):
                continue
            fill = self.fills.get(oid)
            out.append({
                "order_id": oid, "symbol": r[2], "side": r[3], "quantity": r[4],
                "decided_at": r[5].isoformat(), "reference_price": r[6],
                "target_position": r[7],
                "contributions": [{"pair_id": p, "quantity": q} for p, q in json.loads(r[8])],
                "reason": r[9], "status": o["status"],
                "filled_at": o["filled_at"].isoformat() if o["filled_at"] else None,
                "fill_price": fill[6] if fill else None, "fill_cost": fill[7] if fill else None,
            })  # fmt: skip
        out.sort(key=lambda o: o["symbol"])  # newest first, then by symbol (as the SQL)
        out.sort(key=lambda o: o["decided_at"], reverse=True)
        return out[: query.limit]

    async def rejections(self, portfolio_id: str, limit: int) -> list[dict[str, Any]]:
        rows = sorted((o["row"] for o in self.rejections_.values() if o["row"][1] == portfolio_id),
                      key=lambda r: r[2])  # fmt: skip
        rows.sort(key=lambda r: r[5], reverse=True)
        return [
            {"order_id": r[0], "symbol": r[2], "side": r[3], "quantity": r[4],
             "decided_at": r[5].isoformat(), "reason": r[6]}
            for r in rows[:limit]
        ]  # fmt: skip
