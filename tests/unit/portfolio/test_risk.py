"""Risk rules before an order leaves: max pairs, kill-switch, exposure scaling, reasons."""

from __future__ import annotations

import pytest

from core.portfolio import PortfolioBook, PortfolioConfig
from tests.unit.portfolio.helpers import day, entry, exit_

PRICES = {"A": 10.0, "B": 20.0, "C": 40.0, "D": 5.0}


def test_max_pairs_admits_entries_by_pair_id_and_says_why() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0, max_pairs=1))
    book.on_signal(entry("C~D", +1, 0))
    book.on_signal(entry("A~B", +1, 0))
    out = book.on_bar(day(0), PRICES)
    assert sorted(o.symbol for o in out.orders) == ["A", "B"]
    assert sorted(r.symbol for r in out.rejections) == ["C", "D"]
    assert all("max_pairs 1 reached" in r.reason for r in out.rejections)
    assert all(r.reason.startswith("C~D:") for r in out.rejections)


def test_the_symbol_cap_scales_entries_and_records_the_reason() -> None:
    config = PortfolioConfig(capital=1000.0, gross_leverage_cap=2.0, max_symbol_exposure=0.3)
    book = PortfolioBook(config)
    book.on_signal(entry("A~B", +1, 0, w_a=0.8))  # alone: 2000 notional, 1600 on A
    out = book.on_bar(day(0), PRICES)
    a = next(o for o in out.orders if o.symbol == "A")
    assert a.quantity * 10.0 == pytest.approx(300.0, rel=1e-12)  # 0.3 x equity 1000
    assert a.quantity * 10.0 <= 300.0
    assert "symbol exposure 1.6000 > limit 0.3" in a.reason and "scaled by" in a.reason


def test_the_net_limit_rejects_entries_when_held_positions_already_break_it() -> None:
    config = PortfolioConfig(capital=1000.0, max_net_exposure=0.1)
    book = PortfolioBook(config)
    book.on_signal(entry("A~B", +1, 0, w_a=0.5))
    book.on_bar(day(0), PRICES)
    book.on_bar(day(1), PRICES)
    # A triples: the long leg alone makes the net exposure ~ +1000 / 2000 > 0.1
    book.on_signal(entry("C~D", +1, 2))
    out = book.on_bar(day(2), {**PRICES, "A": 30.0})
    assert out.orders == []
    assert {r.symbol for r in out.rejections} == {"C", "D"}
    assert all("without the entries: entries rejected" in r.reason for r in out.rejections)


def test_kill_switch_blocks_entries_lets_exits_through_and_latches() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0, drawdown_kill=0.2))
    book.on_signal(entry("A~B", +1, 0))
    book.on_bar(day(0), PRICES)
    book.on_bar(day(1), PRICES)  # filled: 100 A long, 50 B short
    crash = {**PRICES, "A": 6.0}  # -400 on the A leg: 40 % drawdown
    book.on_signal(entry("C~D", +1, 2))
    out = book.on_bar(day(2), crash)
    assert out.mark.kill_switch and out.mark.drawdown == pytest.approx(0.4)
    assert out.mark.kill_reason is not None and "drawdown 0.4000 >= 0.2" in out.mark.kill_reason
    assert out.orders == [] and {r.symbol for r in out.rejections} == {"C", "D"}
    assert all("new entries blocked" in r.reason for r in out.rejections)
    book.on_signal(exit_("A~B", 3))
    out = book.on_bar(day(3), {**PRICES, "A": 30.0})  # recovery does not unlatch it
    assert out.mark.kill_switch
    assert {o.symbol: o.target_position for o in out.orders} == {"A": 0.0, "B": 0.0}


def test_a_flip_closes_the_old_side_even_when_the_new_one_is_rejected() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0, drawdown_kill=0.2))
    book.on_signal(entry("A~B", +1, 0))
    book.on_bar(day(0), PRICES)
    book.on_bar(day(1), PRICES)
    book.on_signal(entry("A~B", -1, 2))
    out = book.on_bar(day(2), {**PRICES, "A": 6.0})
    assert {o.symbol: o.target_position for o in out.orders} == {"A": 0.0, "B": 0.0}
    assert all("new entries blocked" in o.reason for o in out.orders)
