"""The `portfolio` object of `titan demo`'s summary, from the published portfolio events.

Computed from the events alone (live: read back from Kafka; offline: the portfolio
backtest's), so it is equal in both modes exactly when the events are:
- total_return, sharpe, max_drawdown: of the per-bar returns of the marked equity, with the
  backtest's metrics (services/backtest/metrics.py; sharpe annualised with 252 bars a year);
  the capital is the equity before the first mark (its equity minus its PnL);
- orders: OrderPlanned events published;
- netted_orders: pair-leg orders that netting saved, the sum of every mark's `netted_legs`:
  for each bar and symbol whose pairs' shares change, the pairs changing it minus the orders
  sent for it (one, or none when their changes cancel, an internal cross).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

POSITIONS = "portfolio.positions.v1"
ORDERS = "portfolio.orders.v1"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _unique(events: Iterable[tuple[str, Any]]) -> list[Any]:
    return list({str(event_id): payload for event_id, payload in events}.values())


def portfolio_summary(
    events: Mapping[str, Iterable[tuple[str, Any]]], digests: Mapping[str, Any]
) -> dict[str, Any]:
    from services.backtest.metrics import max_drawdown, sharpe, total_return

    marks = sorted(_unique(events.get(POSITIONS, [])), key=lambda m: str(m["bar_time"]))
    out: dict[str, Any] = {
        "bars": len(marks),
        "total_return": None,
        "sharpe": None,
        "max_drawdown": None,
        "orders": digests[ORDERS]["count"],
        "netted_orders": sum(int(m.get("netted_legs", 0)) for m in marks),
        "digests": {t: digests[t] for t in (ORDERS, POSITIONS)},
    }
    if not marks:
        return out
    equity = np.array([float(m["equity"]) for m in marks])
    capital = float(marks[0]["equity"]) - float(marks[0]["pnl"])
    previous = np.concatenate([[capital], equity[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = (equity / previous - 1.0)[:, None]
    out.update(
        total_return=_finite(float(total_return(returns)[0])),
        sharpe=_finite(float(sharpe(returns)[0])),
        max_drawdown=_finite(float(max_drawdown(returns)[0])),
    )
    return out
