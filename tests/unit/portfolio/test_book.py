"""Allocation, netting, fills, costs, borrow and the PnL accounting identities of the book."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.portfolio import Costs, PortfolioBook, PortfolioConfig, run_portfolio_backtest
from tests.unit.portfolio.helpers import day, entry, exit_, random_closes

PRICES = {"A": 10.0, "B": 20.0, "C": 40.0}


def active(book: PortfolioBook, *pairs: str) -> None:
    for pair in pairs:
        book.on_lifecycle(pair, "active", day(0))


def test_equal_allocation_sizes_legs_from_weights_at_the_decision_close() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0, gross_leverage_cap=2.0))
    active(book, "A~B", "A~C")
    book.on_signal(entry("A~B", +1, 0, w_a=0.25))
    out = book.on_bar(day(0), PRICES)
    # two active pairs share 2 x 1000 of gross notional: 1000 each
    by_symbol = {o.symbol: o for o in out.orders}
    assert by_symbol["A"].side == "buy" and by_symbol["A"].quantity == pytest.approx(250 / 10)
    assert by_symbol["B"].side == "sell" and by_symbol["B"].quantity == pytest.approx(750 / 20)
    assert by_symbol["A"].decided_at == day(0) and by_symbol["A"].reference_price == 10.0
    assert by_symbol["A"].contributions == (("A~B", pytest.approx(25.0)),)
    assert "A~B open_long_spread" in by_symbol["A"].reason
    assert out.fills == []  # paper fills happen at the next bar


def test_opposite_legs_of_two_pairs_net_into_one_order() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0))
    active(book, "A~B", "C~B")
    book.on_signal(entry("A~B", +1, 0))  # sells B: 500 / 20 = 25
    book.on_signal(entry("C~B", -1, 0))  # buys B: 25, cancels exactly
    book.on_signal(entry("A~C", +1, 0))  # not active: counted, sized at 2000 / 3
    out = book.on_bar(day(0), PRICES)
    symbols = sorted(o.symbol for o in out.orders)
    assert symbols == ["A", "C"]  # B is an internal cross: no order, no cost
    assert out.netted_legs == 4  # A: 2 pairs 1 order, B: 2 pairs 0 orders, C: 2 pairs 1 order
    a_order = next(o for o in out.orders if o.symbol == "A")
    assert dict(a_order.contributions).keys() == {"A~B", "A~C"}
    assert a_order.quantity == pytest.approx(sum(c for _, c in a_order.contributions))
    nxt = book.on_bar(day(1), PRICES)
    assert sorted(f.symbol for f in nxt.fills) == ["A", "C"]
    pairs = {p.pair_id: p.position for p in nxt.mark.pairs}
    assert pairs == {"A~B": 1, "C~B": -1, "A~C": 1}
    assert {p.symbol for p in nxt.mark.positions} == {"A", "C"}  # B nets to zero shares


def test_leg_weights_are_shares_of_the_pairs_gross_notional() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0, gross_leverage_cap=1.0))
    signal = entry("A~B", +1, 0)
    doubled = tuple(type(leg)(leg.symbol, leg.side, 2 * leg.weight) for leg in signal.legs)
    book.on_signal(type(signal)(signal.signal_id, "A~B", signal.action, day(0), 1.0, doubled))
    out = book.on_bar(day(0), PRICES)
    assert sum(o.quantity * o.reference_price for o in out.orders) == pytest.approx(1000.0)


def test_fills_at_next_close_with_commission_slippage_and_borrow() -> None:
    costs = Costs(commission_bps=1.0, slippage_bps=2.0, borrow_bps_annual=252.0)
    book = PortfolioBook(PortfolioConfig(capital=1000.0, gross_leverage_cap=1.0, costs=costs))
    active(book, "A~B")
    book.on_signal(entry("A~B", +1, 0))
    book.on_bar(day(0), PRICES)
    out = book.on_bar(day(1), {"A": 11.0, "B": 19.0})
    qa, qb = 500.0 / 10.0, 500.0 / 20.0  # sized at the decision close
    fills = {f.symbol: f for f in out.fills}
    assert fills["A"].price == 11.0 and fills["A"].quantity == pytest.approx(qa)
    assert fills["A"].cost == pytest.approx(3e-4 * qa * 11.0)
    assert fills["B"].side == "sell" and fills["B"].cost == pytest.approx(3e-4 * qb * 19.0)
    entry_costs = fills["A"].cost + fills["B"].cost
    assert out.mark.pnl == pytest.approx(-entry_costs)
    out2 = book.on_bar(day(2), {"A": 12.0, "B": 18.0})
    borrow = 1e-4 * qb * 19.0  # on the short leg's notional at the previous close
    assert out2.mark.costs == pytest.approx(borrow)
    assert out2.mark.pnl == pytest.approx(qa * 1.0 + qb * 1.0 - borrow)
    assert out2.mark.equity == pytest.approx(1000.0 - entry_costs + qa + qb - borrow)


@pytest.mark.parametrize("allocation", ["equal", "inverse_vol", "vol_target"])
def test_accounting_identities_hold_every_bar(allocation: str) -> None:
    closes = random_closes(["A", "B", "C", "D"], 200, seed=3)
    pairs = ["A~B", "C~B", "A~D", "C~D"]
    rng = np.random.default_rng(4)
    signals = []
    for pair in pairs:
        for start in range(5, 190, 30):
            n = start + int(rng.integers(0, 10))
            signals.append(entry(pair, int(rng.choice([-1, 1])), n, float(rng.uniform(0.2, 0.8))))
            signals.append(exit_(pair, n + int(rng.integers(3, 20))))
    costs = Costs(commission_bps=1.0, slippage_bps=2.0, borrow_bps_annual=50.0)
    config = PortfolioConfig(capital=1e5, allocation=allocation, vol_lookback=20, costs=costs)  # type: ignore[arg-type]
    lifecycle = [(p, "active", day(0)) for p in pairs]
    result = run_portfolio_backtest(config, closes, signals, lifecycle)
    previous = config.capital
    for outcome in result.outcomes:
        mark = outcome.mark
        value = sum(p.market_value for p in mark.positions)
        assert mark.equity == pytest.approx(mark.cash + value, abs=1e-6)
        assert mark.pnl == pytest.approx(mark.equity - previous, abs=1e-9)
        assert sum(p.pnl for p in mark.pairs) == pytest.approx(mark.pnl, abs=1e-6)
        previous = mark.equity
    assert len(result.fills) > 20
    cumulative = result.pair_pnl.sum().sum()
    assert cumulative == pytest.approx(result.equity.iloc[-1] - config.capital, abs=1e-5)


def test_inverse_vol_and_vol_target_size_from_the_spread_volatility() -> None:
    closes = random_closes(["A", "B", "C"], 80, seed=9)
    closes["C"] = closes["C"].iloc[0] * np.exp(
        np.cumsum(np.r_[0, np.diff(np.log(closes["C"]))]) * 3
    )
    lookback, n = 30, 60
    window = closes.iloc[n - lookback : n + 1]
    returns = window.pct_change().iloc[1:]
    sigma_ab = (0.5 * returns["A"] - 0.5 * returns["B"]).std()
    sigma_cb = (0.5 * returns["C"] - 0.5 * returns["B"]).std()
    signals = [entry("A~B", +1, n), entry("C~B", +1, n)]
    lifecycle = [("A~B", "active", day(0)), ("C~B", "active", day(0))]
    inv = PortfolioConfig(capital=1e6, allocation="inverse_vol", vol_lookback=lookback)
    orders = run_portfolio_backtest(inv, closes, signals, lifecycle).orders
    a = next(o for o in orders if o.symbol == "A")
    expected = 2e6 * (1 / sigma_ab) / (1 / sigma_ab + 1 / sigma_cb)
    assert a.quantity * closes["A"].iloc[n] / 0.5 == pytest.approx(expected, rel=1e-9)
    vt = PortfolioConfig(capital=1e6, allocation="vol_target", vol_lookback=lookback,
                         target_vol_annual=0.05, gross_leverage_cap=50.0)  # fmt: skip
    orders = run_portfolio_backtest(vt, closes, signals, lifecycle).orders
    c = next(o for o in orders if o.symbol == "C")
    expected = 0.05 * 1e6 / (sigma_cb * np.sqrt(252.0))
    assert c.quantity * closes["C"].iloc[n] / 0.5 == pytest.approx(expected, rel=1e-9)


def test_a_retired_pair_is_closed_and_takes_no_entry() -> None:
    book = PortfolioBook(PortfolioConfig(capital=1000.0))
    active(book, "A~B")
    book.on_signal(entry("A~B", +1, 0))
    book.on_bar(day(0), PRICES)
    book.on_bar(day(1), PRICES)
    book.on_lifecycle("A~B", "retired", day(2))
    out = book.on_bar(day(2), PRICES)
    assert {o.symbol: o.target_position for o in out.orders} == {"A": 0.0, "B": 0.0}
    assert all("A~B retired" in o.reason for o in out.orders)
    book.on_signal(entry("A~B", -1, 3))
    assert book.on_bar(day(3), PRICES).orders == []


def test_bad_bars_are_refused_precisely() -> None:
    book = PortfolioBook(PortfolioConfig())
    book.on_bar(day(1), PRICES)
    with pytest.raises(ValueError, match="is not after"):
        book.on_bar(day(1), PRICES)
    with pytest.raises(ValueError, match="close of 'A' must be finite and > 0"):
        book.on_bar(day(2), {"A": -1.0})
    with pytest.raises(ValueError, match="lifecycle state must be one of"):
        book.on_lifecycle("A~B", "zombie", day(2))


def test_backtest_leaves_out_missing_closes_and_matches_a_manual_drive() -> None:
    closes = random_closes(["A", "B"], 30, seed=1)
    closes.iloc[10, 1] = np.nan  # B has no bar at 10: an order on B waits for its next close
    signals = [entry("A~B", +1, 9), exit_("A~B", 20)]
    result = run_portfolio_backtest(PortfolioConfig(), closes, signals, [])
    fills_b = [f for f in result.fills if f.symbol == "B"]
    assert fills_b[0].filled_at == day(11) and fills_b[0].price == closes["B"].iloc[11]
    book = PortfolioBook(PortfolioConfig())
    manual = []
    for i, (when, row) in enumerate(closes.iterrows()):
        for s in signals:
            if s.bar_time == day(i):
                book.on_signal(s)
        manual.append(book.on_bar(when.to_pydatetime(), row.dropna().to_dict()))
    assert [o.mark for o in manual] == [o.mark for o in result.outcomes]
    assert isinstance(result.equity, pd.Series) and len(result.equity) == 30
