"""Contract events <-> the portfolio domain, shared by the live service and `titan demo
--offline`: the same conversions on both sides is what lets their digests be compared.

Event ids are derived from content only: an order's from its order id (itself derived from
the portfolio, the decision bar and the symbol), a mark's from the portfolio and its bar
time. A replay, a retried batch or a second replica therefore republishes the same ids.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.portfolio import BarOutcome, LegWeight, PairSignal, PlannedOrder
from shared.events import Bar, Envelope
from shared.events.pairs import PairStateChanged
from shared.events.portfolio import (
    Fill,
    OrderPlanned,
    PairContribution,
    PairPnl,
    PositionsMarked,
    SymbolPosition,
)
from shared.events.signals import SignalEmitted
from shared.topics import PORTFOLIO_ORDERS, PORTFOLIO_POSITIONS

# Fixed namespace of the portfolio's event ids (uuid5): never change it, ids would move.
EVENT_NAMESPACE = uuid.UUID("6f1d3c52-5b0e-4f4e-9a57-1c2b8d0e7a31")


@dataclass(frozen=True)
class OutEvent:
    topic: str  # contract topic
    payload: OrderPlanned | PositionsMarked
    event_id: uuid.UUID
    occurred_at: datetime
    key: str


def pair_signal(payload: SignalEmitted) -> PairSignal:
    """A signal as the book takes it; ValueError (dead letter) if the book would refuse it."""
    if payload.bar_time.tzinfo is None:
        raise ValueError("signal bar_time has no time zone")
    legs = tuple(LegWeight(leg.symbol, leg.side, leg.weight) for leg in payload.legs)
    return PairSignal(
        signal_id=payload.signal_id,
        pair_id=payload.pair_id,
        action=payload.action,
        bar_time=payload.bar_time,
        hedge_ratio=payload.hedge_ratio,
        legs=legs,
    )


def lifecycle_change(payload: PairStateChanged) -> tuple[str, str, datetime]:
    return payload.pair_id, payload.to_state, payload.as_of


def order_event_id(order_id: str) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, f"order|{order_id}")


def marked_event_id(portfolio: str, bar_time: datetime) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, f"marked|{portfolio}|{bar_time.isoformat()}")


def order_payload(portfolio: str, order: PlannedOrder) -> OrderPlanned:
    return OrderPlanned(
        order_id=order.order_id,
        portfolio=portfolio,
        symbol=order.symbol,
        side=order.side,
        quantity=order.quantity,
        decided_at=order.decided_at,
        reference_price=order.reference_price,
        target_position=order.target_position,
        contributions=[PairContribution(pair_id=p, quantity=q) for p, q in order.contributions],
        reason=order.reason,
    )


def marked_payload(portfolio: str, outcome: BarOutcome) -> PositionsMarked:
    mark = outcome.mark
    return PositionsMarked(
        portfolio=portfolio,
        bar_time=mark.bar_time,
        equity=mark.equity,
        cash=mark.cash,
        pnl=mark.pnl,
        gross_exposure=mark.gross_exposure,
        net_exposure=mark.net_exposure,
        drawdown=mark.drawdown,
        kill_switch=mark.kill_switch,
        kill_reason=mark.kill_reason,
        costs=mark.costs,
        netted_legs=netted_legs(outcome),
        positions=[
            SymbolPosition(
                symbol=p.symbol, quantity=p.quantity, price=p.price, market_value=p.market_value
            )
            for p in mark.positions
        ],
        pairs=[
            PairPnl(
                pair_id=p.pair_id, position=p.position, pnl=p.pnl, cumulative_pnl=p.cumulative_pnl
            )
            for p in mark.pairs
        ],
        fills=[
            Fill(
                order_id=f.order_id,
                symbol=f.symbol,
                side=f.side,
                quantity=f.quantity,
                price=f.price,
                cost=f.cost,
            )
            for f in outcome.fills
        ],
    )


def netted_legs(outcome: BarOutcome) -> int:
    """Pair-leg orders netting saved at this bar (the event's `netted_legs`): the book counts
    them, as it alone sees internal crosses (changes that cancel send no order)."""
    return outcome.netted_legs


def outcome_events(portfolio: str, outcome: BarOutcome) -> list[OutEvent]:
    """What one bar publishes: its orders (key: symbol), then the mark (key: portfolio)."""
    out = [
        OutEvent(
            PORTFOLIO_ORDERS.name,
            order_payload(portfolio, o),
            order_event_id(o.order_id),
            o.decided_at,
            o.symbol,
        )
        for o in outcome.orders
    ]
    mark = marked_payload(portfolio, outcome)
    out.append(
        OutEvent(
            PORTFOLIO_POSITIONS.name,
            mark,
            marked_event_id(portfolio, mark.bar_time),
            mark.bar_time,
            portfolio,
        )
    )
    return out


def latest_closes(bars: list[Envelope[Bar]], interval: str) -> dict[datetime, dict[str, float]]:
    """Closes by bar start then symbol, of one interval; a revision replaces what it revises
    (the highest revision wins, whatever the order given)."""
    best: dict[tuple[datetime, str], tuple[int, float]] = {}
    for envelope in bars:
        bar = envelope.payload
        if bar.interval != interval:
            continue
        key = (bar.start, bar.symbol)
        known = best.get(key)
        if known is None or known[0] <= bar.revision:
            best[key] = (bar.revision, bar.close)
    out: dict[datetime, dict[str, float]] = {}
    for (start, symbol), (_revision, close) in sorted(best.items()):
        out.setdefault(start, {})[symbol] = close
    return out


def payload_json(event: OutEvent) -> dict[str, Any]:
    return event.payload.model_dump(mode="json")
