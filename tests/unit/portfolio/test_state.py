"""BookState's JSON: exact floats, unpriced symbols, pending work, and precise refusals."""

from __future__ import annotations

import json

import pytest

from core.portfolio import BookState, Costs, PortfolioBook, PortfolioConfig
from tests.unit.portfolio.helpers import day, entry


def test_round_trip_keeps_pending_orders_signals_and_unpriced_symbols() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1e6 / 3, costs=Costs(commission_bps=0.7)))
    book.on_lifecycle("A~B", "active", day(0))
    book.on_lifecycle("C~D", "active", day(5))  # not yet due
    book.on_signal(entry("A~B", +1, 0, w_a=0.1 + 0.2))
    book.on_signal(entry("A~B", -1, 9))  # not yet due
    book.on_bar(day(0), {"A": 10.1, "B": 3.3})  # C and D are known but never priced
    state = book.state()
    text = state.to_json()
    json.loads(text)  # strict JSON: no NaN tokens, PostgreSQL's jsonb takes it
    back = BookState.from_json(text)
    assert back.to_json() == text
    assert len(back.orders) == 2 and len(back.signals) == 1 and len(back.lifecycle_pending) == 1
    assert back.cash == state.cash and back.target.tolist() == state.target.tolist()
    assert back.symbols == ["A", "B", "C", "D"]
    resumed = PortfolioBook(book.config, back)
    assert resumed.on_bar(day(1), {"A": 10.0, "B": 3.0}) == book.on_bar(
        day(1), {"A": 10.0, "B": 3.0}
    )


def test_book_state_is_a_copy() -> None:
    book = PortfolioBook(PortfolioConfig())
    state = book.state()
    state.cash = -1.0
    assert book.state().cash == PortfolioConfig().capital


@pytest.mark.parametrize("text", ["{}", "not json", '{"symbols": 3}'])
def test_from_json_refuses_what_is_not_a_state(text: str) -> None:
    with pytest.raises(ValueError, match="not a portfolio book state"):
        BookState.from_json(text)


def test_non_numeric_closes_are_refused_before_any_change() -> None:
    book = PortfolioBook(PortfolioConfig())
    with pytest.raises(ValueError, match="closes must be numbers"):
        book.on_bar(day(0), {"A": "ten"})  # type: ignore[dict-item]
    assert book.state().symbols == []
