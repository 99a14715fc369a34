"""Pure rules of the execution adapter: request mapping, client order ids, classification of
broker answers, backoff and reconciliation transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.execution.domain import (
    AlreadyPlaced,
    BrokerOrder,
    OrderRecord,
    Placed,
    ReconcileError,
    Rejected,
    Throttled,
    Transient,
    classify_submission,
    client_order_id,
    format_qty,
    intent_from_event,
    order_request,
    reconcile,
    retry_delay,
    stale_reason,
    state_of,
)
from shared.events import OrderPlanned

DECIDED = datetime(2024, 3, 1, 21, tzinfo=UTC)


def planned(order_id: str = "pf|2024-03-01|XOM", **kw: object) -> OrderPlanned:
    fields: dict[str, object] = {
        "order_id": order_id, "portfolio": "pf", "symbol": "XOM", "side": "sell",
        "quantity": 12.5, "decided_at": DECIDED, "reference_price": 101.25,
        "target_position": -12.5, "reason": "entry XOM~CVX",
    }  # fmt: skip
    fields.update(kw)
    return OrderPlanned.model_validate(fields)


def broker_json(**kw: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": "b-1", "client_order_id": client_order_id("o-1"), "symbol": "XOM",
        "status": "accepted", "qty": "10", "filled_qty": "0", "filled_avg_price": None,
        "side": "buy", "type": "market",
    }  # fmt: skip
    data.update(kw)
    return data


def test_an_order_planned_maps_to_a_market_day_order_keyed_by_its_client_order_id() -> None:
    intent = intent_from_event(planned(symbol="xom"))
    assert order_request(intent) == {
        "symbol": "XOM",
        "qty": "12.5",
        "side": "sell",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": client_order_id("pf|2024-03-01|XOM"),
    }
    assert intent.decided_at == DECIDED and intent.reference_price == 101.25


def test_client_order_id_is_stable_distinct_and_fits_alpaca() -> None:
    cid = client_order_id("pf|2024-03-01|XOM")
    assert cid == client_order_id("pf|2024-03-01|XOM")
    assert cid != client_order_id("pf|2024-03-01|CVX")
    assert cid.startswith("titan-") and len(cid) == 46
    with pytest.raises(ValueError):
        client_order_id("")


@given(st.lists(st.text(min_size=1, max_size=128), min_size=2, max_size=50, unique=True))
def test_distinct_order_ids_never_share_a_client_order_id(order_ids: list[str]) -> None:
    assert len({client_order_id(o) for o in order_ids}) == len(order_ids)


@pytest.mark.parametrize(
    ("quantity", "text"),
    [(10.0, "10"), (12.5, "12.5"), (0.123456789, "0.123456789"), (1e-9, "0.000000001"),
     (1234567.0, "1234567"), (3.0000000001, "3")],
)  # fmt: skip
def test_quantities_are_decimal_strings_without_exponent(quantity: float, text: str) -> None:
    assert format_qty(quantity) == text


@pytest.mark.parametrize("quantity", [0.0, -1.0, 1e-12, float("nan"), float("inf")])
def test_quantities_no_broker_can_take_are_refused(quantity: float) -> None:
    with pytest.raises(ValueError):
        format_qty(quantity)


def test_an_order_too_small_to_trade_is_refused_at_decoding() -> None:
    with pytest.raises(ValueError, match="rounds to zero"):
        intent_from_event(planned(quantity=1e-12))


@pytest.mark.parametrize(
    ("status", "body", "retry_after", "expected"),
    [
        (422, {"code": 40010001, "message": "client_order_id must be unique"}, None,
         AlreadyPlaced()),
        (429, {"message": "rate limit exceeded"}, "3", Throttled(3.0)),
        (429, "Too Many Requests", None, Throttled(None)),
        (429, "Too Many Requests", "Wed, 21 Oct 2015 07:28:00 GMT", Throttled(None)),
        (403, {"code": 40310000, "message": "insufficient buying power"}, None,
         Rejected("HTTP 403 code 40310000: insufficient buying power")),
        (422, {"code": 40010001, "message": "qty must be > 0"}, None,
         Rejected("HTTP 422 code 40010001: qty must be > 0")),
        (404, {"code": 40410000, "message": "asset not found"}, None,
         Rejected("HTTP 404 code 40410000: asset not found")),
        (500, {"message": "internal"}, None, Transient("HTTP 500: internal")),
        (503, "<html>down</html>", None, Transient("HTTP 503: <html>down</html>")),
        (408, "", None, Transient("HTTP 408: ")),
        (401, {"code": 40110000, "message": "unauthorized."}, None,
         Transient("HTTP 401: unauthorized.")),
    ],
)  # fmt: skip
def test_retry_classification(
    status: int, body: object, retry_after: str | None, expected: object
) -> None:
    assert classify_submission(status, body, retry_after) == expected


def test_an_accepted_order_is_placed_and_an_unreadable_one_is_transient() -> None:
    outcome = classify_submission(200, broker_json())
    assert isinstance(outcome, Placed) and outcome.order.id == "b-1"
    assert outcome.order.filled_avg_price is None
    assert isinstance(classify_submission(200, {"id": "x"}), Transient)
    assert isinstance(classify_submission(200, "not json"), Transient)


def test_backoff_doubles_to_its_cap_and_honours_retry_after() -> None:
    assert [retry_delay(n, initial_s=0.5, max_s=5.0) for n in (1, 2, 3, 4, 5, 9)] == [
        0.5, 1.0, 2.0, 4.0, 5.0, 5.0,
    ]  # fmt: skip
    assert retry_delay(7, 2.0) == 2.0
    assert retry_delay(1, 1e6, max_s=60.0) == 60.0
    assert retry_delay(1, -3.0) == 0.0


@pytest.mark.parametrize(
    ("status", "state"),
    [("new", "open"), ("accepted", "open"), ("pending_new", "open"),
     ("partially_filled", "open"), ("done_for_day", "open"), ("held", "open"),
     ("filled", "filled"), ("canceled", "canceled"), ("expired", "expired"),
     ("rejected", "rejected"), ("replaced", "canceled")],
)  # fmt: skip
def test_broker_statuses_map_to_states(status: str, state: str) -> None:
    assert state_of(status) == state


def pending() -> OrderRecord:
    return OrderRecord("o-1", client_order_id("o-1"), "pending")


def test_reconciliation_follows_a_partial_fill_to_the_fill() -> None:
    placed = reconcile(pending(), BrokerOrder.from_json(broker_json()))
    assert (placed.state, placed.broker_order_id, placed.filled_qty) == ("open", "b-1", 0.0)
    partial = reconcile(
        placed,
        BrokerOrder.from_json(
            broker_json(status="partially_filled", filled_qty="4", filled_avg_price="100")
        ),
    )
    assert (partial.state, partial.broker_status, partial.filled_qty) == (
        "open", "partially_filled", 4.0,
    )  # fmt: skip
    assert partial.filled_avg_price == 100.0
    filled = reconcile(
        partial,
        BrokerOrder.from_json(
            broker_json(status="filled", filled_qty="10", filled_avg_price="100.06")
        ),
    )
    assert (filled.state, filled.filled_qty, filled.filled_avg_price) == ("filled", 10.0, 100.06)


def test_a_final_state_absorbs_and_fills_never_go_back() -> None:
    filled = OrderRecord("o-1", client_order_id("o-1"), "filled", "b-1", "filled", 10.0, 100.0)
    stale = BrokerOrder.from_json(broker_json(status="partially_filled", filled_qty="4"))
    assert reconcile(filled, stale) == filled
    open_ = OrderRecord("o-1", client_order_id("o-1"), "open", "b-1", "partially_filled", 6.0,
                        99.0)  # fmt: skip
    older = reconcile(open_, BrokerOrder.from_json(broker_json(
        status="partially_filled", filled_qty="4", filled_avg_price="98")))  # fmt: skip
    assert (older.filled_qty, older.filled_avg_price) == (6.0, 99.0)


def test_a_broker_reject_after_acceptance_records_why() -> None:
    rejected = reconcile(pending(), BrokerOrder.from_json(broker_json(status="rejected")))
    assert rejected.state == "rejected" and rejected.reason == "broker status rejected"


def test_an_order_of_another_client_order_id_is_refused() -> None:
    other = BrokerOrder.from_json(broker_json(client_order_id=client_order_id("o-2")))
    with pytest.raises(ReconcileError, match="o-1"):
        reconcile(pending(), other)


@pytest.mark.parametrize("body", [[], {"id": "x"}, {**broker_json(), "filled_qty": "many"}])
def test_a_malformed_broker_order_is_a_value_error(body: object) -> None:
    with pytest.raises(ValueError):
        BrokerOrder.from_json(body)


def test_orders_older_than_the_limit_are_stale_and_zero_means_no_limit() -> None:
    now = DECIDED + timedelta(hours=2)
    assert stale_reason(DECIDED, now, 7200.0) is None
    reason = stale_reason(DECIDED, now, 3600.0)
    assert reason == ("stale: decided at 2024-03-01T21:00:00+00:00, 7200s before now (limit 3600s)")
    assert stale_reason(DECIDED - timedelta(days=9000), now, 0.0) is None


def test_a_day_order_that_expires_partly_filled_keeps_what_filled() -> None:
    partial = OrderRecord("o-1", client_order_id("o-1"), "open", "b-1", "partially_filled", 4.0,
                          100.0)  # fmt: skip
    expired = reconcile(partial, BrokerOrder.from_json(broker_json(
        status="expired", filled_qty="4", filled_avg_price="100")))  # fmt: skip
    assert (expired.state, expired.broker_status, expired.filled_qty) == ("expired", "expired", 4.0)
    assert expired.filled_avg_price == 100.0 and expired.reason is None
