"""A bar's decision on the pair targets, and its netting into per-symbol orders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from core.portfolio.model import PlannedOrder, PortfolioConfig, RejectedOrder, order_id
from core.portfolio.state import BookState, PendingOrder

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class Decision:
    target: FloatArray  # the pairs' target shares after this bar (pairs x symbols)
    direction: IntArray
    why: dict[int, str] = field(default_factory=dict)  # what moved each pair
    rows: dict[int, FloatArray] = field(default_factory=dict)  # an entry's full shares
    dirs: dict[int, int] = field(default_factory=dict)
    notional: dict[int, float] = field(default_factory=dict)
    entering: list[int] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    scaled: dict[int, str] = field(default_factory=dict)

    @classmethod
    def start(cls, state: BookState) -> Decision:
        return cls(target=state.target.copy(), direction=state.target_dir.copy())

    def exit(self, i: int, why: str) -> None:
        self.target[i] = 0.0
        self.direction[i] = 0
        self.why[i] = why

    def candidate(self, i: int, direction: int, why: str, problem: str | None) -> None:
        self.entering.append(i)
        self.dirs[i] = direction
        self.why[i] = why
        if problem is not None:
            self.rejected[i] = problem

    def entering_mask(self, n_pairs: int) -> NDArray[np.bool_]:
        mask = np.zeros(n_pairs, dtype=bool)
        mask[[i for i in self.entering if i not in self.rejected]] = True
        return mask

    def place(self, accepted: list[int], scale: float, reasons: list[str]) -> None:
        limits = "; ".join(reasons)
        for i in accepted:
            if scale <= 0.0:
                self.rejected[i] = f"{limits}: entries rejected"
                continue
            self.target[i] = scale * self.rows[i]
            self.direction[i] = self.dirs[i]
            if scale < 1.0:
                self.scaled[i] = f"{limits}: entries scaled by {scale:.6f}"


def net_orders(
    config: PortfolioConfig, state: BookState, d: Decision, decided_at: datetime
) -> tuple[list[PlannedOrder], list[RejectedOrder], int]:
    """Per-symbol orders (target change, pair contributions) and the pair-leg orders netting
    saved; commits the targets."""
    if not d.why:  # nothing moved a pair at this bar
        return [], [], 0
    delta = d.target - state.target
    limited = [i for i in d.entering if i in d.rejected or i in d.scaled]
    full, delta_full = d.target, delta
    if limited:  # what the entries would have traded had no rule stopped them
        full = d.target.copy()
        for i in limited:
            full[i] = np.nan_to_num(d.rows[i])
        delta_full = full - state.target
    touched = np.flatnonzero((delta != 0.0).any(axis=0) | (delta_full != 0.0).any(axis=0))
    orders: list[PlannedOrder] = []
    rejections: list[RejectedOrder] = []
    new_position = d.target.sum(axis=0)
    netted = 0
    for j in (int(k) for k in touched):
        symbol = state.symbols[j]
        oid = order_id(config.portfolio_id, decided_at, symbol)
        price = float(state.prices[j])
        column = delta[:, j]
        movers = [int(i) for i in np.flatnonzero(column)]
        quantity = float(column[movers].sum()) if movers else 0.0
        limits = [
            f"{state.pairs[i]}: {d.rejected.get(i) or d.scaled[i]}"
            for i in limited
            if full[i, j] != 0.0
        ]
        if movers:
            contributions = tuple((state.pairs[i], float(column[i])) for i in movers)
            state.orders.append(PendingOrder(oid, symbol, quantity, decided_at, contributions))
            state.unfilled[movers] += 1
            netted += len(movers) - (1 if quantity != 0.0 else 0)
        if quantity != 0.0:
            reason = "; ".join([*(d.why[i] for i in movers), *limits])
            orders.append(
                PlannedOrder(oid, symbol, "buy" if quantity > 0 else "sell", abs(quantity),
                             decided_at, price, float(new_position[j]), contributions, reason)
            )  # fmt: skip
        else:
            wanted = float(delta_full[:, j].sum())
            if limits and wanted != 0.0:
                rejections.append(
                    RejectedOrder(oid, symbol, "buy" if wanted > 0 else "sell", abs(wanted),
                                  decided_at, price, "; ".join(limits))
                )  # fmt: skip
    state.target = d.target
    state.target_dir = d.direction
    return orders, rejections, netted
