"""HTTP query API of the portfolio service: positions, PnL curve, risk, orders, rejections.

Bad query input is a 4xx with the parameter named (FastAPI's 422 for types and bounds, 400
for ranges); nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from core.portfolio import PortfolioConfig
from services.portfolio.store import OrderQuery, PortfolioStore

OpenStore = Callable[[], AbstractAsyncContextManager[PortfolioStore]]
MAX_LIMIT = 10_000
When = Annotated[datetime | None, Query(description="ISO time, UTC if naive")]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _range(start: datetime | None, end: datetime | None) -> tuple[datetime | None, ...]:
    s, e = _utc(start), _utc(end)
    if s is not None and e is not None and s > e:
        raise HTTPException(400, f"start ({s.isoformat()}) must not be after end ({e.isoformat()})")
    return s, e


def limits_json(config: PortfolioConfig) -> dict[str, Any]:
    """The configured limits as the risk endpoint reports them (fractions of equity)."""
    return {
        "capital": config.capital,
        "allocation": config.allocation,
        "gross_leverage_cap": config.gross_leverage_cap,
        "max_gross_exposure": config.max_gross_exposure,
        "max_net_exposure": config.max_net_exposure,
        "max_symbol_exposure": config.max_symbol_exposure,
        "max_pairs": config.max_pairs,
        "drawdown_kill": config.drawdown_kill,
        "costs": asdict(config.costs),
    }


def build_router(open_store: OpenStore, config: PortfolioConfig) -> APIRouter:
    router = APIRouter(prefix="/portfolio", tags=["portfolio"])
    pid = config.portfolio_id

    @router.get("/positions", summary="Positions at the latest mark, per symbol and per pair")
    async def positions(
        symbol: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        pair_id: Annotated[str | None, Query(min_length=3, max_length=80)] = None,
    ) -> dict[str, Any]:
        async with open_store() as store:
            mark = await store.latest_mark(pid)
        if mark is None:
            return {"portfolio": pid, "bar_time": None, "symbols": [], "pairs": []}
        symbols = [p for p in mark["positions"] if symbol is None or p["symbol"] == symbol]
        pairs = [p for p in mark["pairs"] if pair_id is None or p["pair_id"] == pair_id]
        return {"portfolio": pid, "bar_time": mark["bar_time"], "symbols": symbols,
                "pairs": pairs}  # fmt: skip

    @router.get("/pnl", summary="The PnL curve: equity, PnL and drawdown per bar, oldest first")
    async def pnl(
        start: When = None,
        end: When = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 1000,
    ) -> dict[str, Any]:
        s, e = _range(start, end)
        async with open_store() as store:
            marks = await store.marks(pid, s, e, limit)
        curve = [
            {k: m[k] for k in ("bar_time", "equity", "pnl", "drawdown", "gross_exposure",
                               "net_exposure")}
            for m in marks
        ]  # fmt: skip
        return {"portfolio": pid, "curve": curve, "count": len(curve)}

    @router.get("/risk", summary="Risk state at the latest mark and the configured limits")
    async def risk() -> dict[str, Any]:
        async with open_store() as store:
            mark = await store.latest_mark(pid)
        state: dict[str, Any] | None = None
        if mark is not None:
            equity = mark["equity"]
            state = {
                k: mark[k]
                for k in ("bar_time", "equity", "gross_exposure", "net_exposure", "drawdown",
                          "kill_switch")
            }  # fmt: skip
            state["gross_leverage"] = mark["gross_exposure"] / equity if equity > 0 else None
            state["active_pairs"] = sum(1 for p in mark["pairs"] if p["position"] != 0)
        return {"portfolio": pid, "state": state, "limits": limits_json(config)}

    @router.get("/orders", summary="Orders with their status (planned, filled), newest first")
    async def orders(
        status: Literal["planned", "filled"] | None = None,
        symbol: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
        start: When = None,
        end: When = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> dict[str, Any]:
        s, e = _range(start, end)
        async with open_store() as store:
            rows = await store.orders(pid, OrderQuery(status, symbol, s, e, limit))
        return {"portfolio": pid, "orders": rows, "count": len(rows)}

    @router.get("/rejections", summary="Orders a risk limit refused, with the reason, newest first")
    async def rejections(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> dict[str, Any]:
        async with open_store() as store:
            rows = await store.rejections(pid, limit)
        return {"portfolio": pid, "rejections": rows, "count": len(rows)}

    return router
