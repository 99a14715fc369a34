"""Pure rules of the execution adapter: no I/O.

An OrderPlanned becomes an order intent; the intent becomes one request in the shape of
Alpaca's orders API; a broker answer is classified (placed, already placed, throttled,
transient, rejected); the broker's order object moves the stored order forward
(reconciliation). The client order id is a digest of the portfolio's order id, so every
attempt for one order carries the same id and the broker's uniqueness check refuses a copy.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from shared.events import OrderPlanned

CLIENT_ORDER_ID_PREFIX = "titan-"
# 40 hex digits (160 bits): no two order ids collide in practice, and the id stays within
# the 48 characters Alpaca accepted before it raised its limit to 128.
CLIENT_ORDER_ID_HEX = 40
QTY_DECIMALS = 9  # Alpaca's precision for fractional share quantities
# Alpaca answers a second order with a client_order_id it has seen by 422 and this message;
# its code (40010001) is the one of every invalid request, so only the message tells.
DUPLICATE_CLIENT_ORDER_ID_MESSAGE = "client_order_id must be unique"

OrderState = Literal["pending", "open", "filled", "canceled", "expired", "rejected"]
TERMINAL_STATES: frozenset[str] = frozenset({"filled", "canceled", "expired", "rejected"})
# Broker statuses after which the order can no longer change (`replaced` never happens
# here: the adapter never replaces an order, but a person might, on the dashboard).
_TERMINAL_BROKER = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "canceled",
}


def client_order_id(order_id: str) -> str:
    """The broker's idempotency key of an order: the same for every attempt and replica."""
    if not order_id:
        raise ValueError("an order id is needed to derive a client order id")
    digest = hashlib.sha256(order_id.encode("utf-8")).hexdigest()[:CLIENT_ORDER_ID_HEX]
    return CLIENT_ORDER_ID_PREFIX + digest


def format_qty(quantity: float) -> str:
    """Shares as Alpaca takes them: a decimal string, at most nine decimals, no exponent."""
    if not math.isfinite(quantity) or quantity <= 0:
        raise ValueError(f"quantity must be a positive finite number of shares, got {quantity}")
    text = f"{quantity:.{QTY_DECIMALS}f}".rstrip("0").rstrip(".")
    if Decimal(text) == 0:
        raise ValueError(f"quantity {quantity} rounds to zero shares at {QTY_DECIMALS} decimals")
    return text


@dataclass(frozen=True)
class OrderIntent:
    """What the adapter will place: recorded once per order id, placed exactly once."""

    order_id: str
    client_order_id: str
    portfolio: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: str
    decided_at: datetime
    reference_price: float


def intent_from_event(event: OrderPlanned) -> OrderIntent:
    """Raises ValueError for an order no broker can take (the record is dead-lettered)."""
    return OrderIntent(
        order_id=event.order_id,
        client_order_id=client_order_id(event.order_id),
        portfolio=event.portfolio,
        symbol=event.symbol.upper(),
        side=event.side,
        qty=format_qty(event.quantity),
        decided_at=event.decided_at,
        reference_price=event.reference_price,
    )


def order_request(intent: OrderIntent) -> dict[str, str]:
    """The body of POST /v2/orders: a market order for the day, keyed by client order id."""
    return {
        "symbol": intent.symbol,
        "qty": intent.qty,
        "side": intent.side,
        "type": "market",
        "time_in_force": "day",
        "client_order_id": intent.client_order_id,
    }


@dataclass(frozen=True)
class BrokerOrder:
    """The fields of Alpaca's order object the adapter keeps."""

    id: str
    client_order_id: str
    symbol: str
    status: str
    qty: float
    filled_qty: float
    filled_avg_price: float | None

    @classmethod
    def from_json(cls, data: Any) -> BrokerOrder:
        """Raises ValueError when the body is not an order object."""
        if not isinstance(data, dict):
            raise ValueError(f"broker order is not an object: {str(data)[:200]}")
        try:
            avg = data.get("filled_avg_price")
            return cls(
                id=str(data["id"]),
                client_order_id=str(data["client_order_id"]),
                symbol=str(data["symbol"]),
                status=str(data["status"]),
                qty=float(data.get("qty") or 0.0),
                filled_qty=float(data.get("filled_qty") or 0.0),
                filled_avg_price=None if avg in (None, "") else float(avg),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"broker order lacks or mangles {exc}: {str(data)[:200]}") from None


def state_of(broker_status: str) -> OrderState:
    """Our state for a broker status; every status not final keeps the order open."""
    terminal = _TERMINAL_BROKER.get(broker_status)
    return "open" if terminal is None else terminal  # type: ignore[return-value]


@dataclass(frozen=True)
class OrderRecord:
    """An order as stored: the intent's id plus what the broker said last."""

    order_id: str
    client_order_id: str
    state: OrderState
    broker_order_id: str | None = None
    broker_status: str | None = None
    filled_qty: float = 0.0
    filled_avg_price: float | None = None
    reason: str | None = None


class ReconcileError(ValueError):
    """The broker's order is not the one this record placed."""


def reconcile(record: OrderRecord, broker: BrokerOrder) -> OrderRecord:
    """The record after seeing the broker's order object.

    A final state absorbs (a stale read cannot reopen a filled order) and the filled
    quantity never goes back, so polls in any order and from any replica converge."""
    if broker.client_order_id != record.client_order_id:
        raise ReconcileError(
            f"broker order {broker.id} has client order id {broker.client_order_id}, "
            f"not {record.client_order_id} of order {record.order_id}"
        )
    if record.state in TERMINAL_STATES:
        return record
    filled = max(record.filled_qty, broker.filled_qty)
    avg = broker.filled_avg_price if broker.filled_qty >= record.filled_qty else None
    state = state_of(broker.status)
    return replace(
        record,
        state=state,
        broker_order_id=broker.id,
        broker_status=broker.status,
        filled_qty=filled,
        filled_avg_price=avg if avg is not None else record.filled_avg_price,
        reason=f"broker status {broker.status}" if state == "rejected" else record.reason,
    )


def stale_reason(decided_at: datetime, now: datetime, max_age_s: float) -> str | None:
    """Why an order is too old to send (None: it is not; max_age_s 0: no limit).

    A market order decided days ago would trade at today's price on a decision about another
    day's: a replay of old orders (a fresh database reading the topic from its start) must
    not reach a broker account."""
    if max_age_s <= 0:
        return None
    age = (now - decided_at).total_seconds()
    if age <= max_age_s:
        return None
    return (
        f"stale: decided at {decided_at.isoformat()}, {age:.0f}s before now (limit {max_age_s:g}s)"
    )


# -- classification of the broker's answers to a submission --------------------------------


@dataclass(frozen=True)
class Placed:
    order: BrokerOrder


@dataclass(frozen=True)
class AlreadyPlaced:
    """The broker has an order with this client order id (an earlier attempt reached it)."""


@dataclass(frozen=True)
class Throttled:
    retry_after_s: float | None


@dataclass(frozen=True)
class Transient:
    """Try again later; the request may or may not have reached the broker."""

    reason: str


@dataclass(frozen=True)
class Rejected:
    reason: str


Outcome = Placed | AlreadyPlaced | Throttled | Transient | Rejected


def error_message(body: Any) -> tuple[int | None, str]:
    """(Alpaca error code, message) of an error body; message falls back to the raw text."""
    if isinstance(body, dict):
        code = body.get("code")
        message = body.get("message")
        return (code if isinstance(code, int) else None, str(message or body)[:500])
    return None, str(body)[:500]


def parse_retry_after(value: str | None) -> float | None:
    """Seconds of a Retry-After header; None when absent or not a number of seconds."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def classify_submission(status: int, body: Any, retry_after: str | None = None) -> Outcome:
    """What an HTTP answer to POST /v2/orders means for the order."""
    code, message = error_message(body)
    if status in (200, 201):
        try:
            return Placed(BrokerOrder.from_json(body))
        except ValueError as exc:
            return Transient(f"unreadable order in a {status} answer: {exc}")
    if status == 422 and DUPLICATE_CLIENT_ORDER_ID_MESSAGE in message.lower():
        return AlreadyPlaced()
    if status == 429:
        return Throttled(parse_retry_after(retry_after))
    # 401: our credentials, not the order, are wrong; the order waits until they are fixed.
    if status in (401, 408) or status >= 500:
        return Transient(f"HTTP {status}: {message}")
    if 400 <= status < 500:
        prefix = f"HTTP {status}" + (f" code {code}" if code is not None else "")
        return Rejected(f"{prefix}: {message}")
    return Transient(f"unexpected HTTP {status}: {message}")


# Backoff of transient failures: 0.5 s doubling to 60 s. A broker outage is waited out
# without hammering it, and an order never gives up on a failure that can pass.
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 60.0


def retry_delay(
    attempts: int,
    retry_after_s: float | None = None,
    *,
    initial_s: float = BACKOFF_INITIAL_S,
    max_s: float = BACKOFF_MAX_S,
) -> float:
    """Seconds before the next attempt after `attempts` failed ones: the broker's
    Retry-After when it gave one (capped), else exponential backoff."""
    if retry_after_s is not None:
        return min(max(retry_after_s, 0.0), max_s)
    return float(min(initial_s * 2.0 ** max(attempts - 1, 0), max_s))
