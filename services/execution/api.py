"""Query API of the execution adapter: orders with their broker status, one order by id."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from services.execution.store import MAX_LIST_LIMIT, ExecutionStore

OpenStore = Callable[[], AbstractAsyncContextManager[ExecutionStore]]
StateFilter = Literal["pending", "open", "filled", "canceled", "expired", "rejected"]


def build_router(open_store: OpenStore) -> APIRouter:
    router = APIRouter(tags=["execution"])

    @router.get("/orders")
    async def orders(
        state: StateFilter | None = None,
        symbol: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
    ) -> dict[str, Any]:
        """Orders by decision time: the intent, attempts, state, the broker's order id and
        status, filled quantity, average fill price, and the reason of a reject."""
        async with open_store() as store:
            rows = await store.list_orders(state, symbol.upper() if symbol else None, limit)
        return {"orders": rows, "count": len(rows)}

    @router.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, Any]:
        if not 1 <= len(order_id) <= 128:
            raise HTTPException(status_code=400, detail="order id must be 1-128 characters")
        async with open_store() as store:
            row = await store.get_order(order_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"no order {order_id}")
        return row

    return router
