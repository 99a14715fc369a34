"""Fills, costs and PnL of the engine against an explicit cash-and-shares simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.strategy import StrategyParams
from services.backtest.engine import BacktestRun, Costs, SpreadSeries, run_single
from services.backtest.engine.spreads import compute_spread_series
from tests.data import load_pair


@pytest.fixture(scope="module")
def msft_jnj() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = load_pair("MSFT", "JNJ", "2003-01-01", "2006-12-31")
    return frame["MSFT"].to_numpy(), frame["JNJ"].to_numpy(), frame.index.to_numpy()


def oracle_equity(
    actions: np.ndarray,
    hedge: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    params: StrategyParams,
    costs: Costs,
    capital: float,
    offset: int,
) -> np.ndarray:
    """Cash + market value, bar by bar, trading at the fill bar's close."""
    cash, qa, qb = capital, 0.0, 0.0
    rate = (costs.commission_bps + costs.slippage_bps) / 1e4
    borrow = costs.borrow_bps_annual / 1e4 / costs.bars_per_year
    pending: dict[int, tuple[int, float]] = {}
    for t, action in enumerate(actions):
        if action and t + offset < len(a):
            pending[t + offset] = (int(action), float(hedge[t]))
    equity = np.empty(len(a))
    for t in range(len(a)):
        if t > 0:
            cash -= borrow * (max(-qa, 0.0) * a[t - 1] + max(-qb, 0.0) * b[t - 1])
        if t in pending:
            action, h = pending[t]
            if action in (1, 2):
                d = 1 if action == 1 else -1
                if params.sizing == "dollar_neutral":
                    na, nb = 0.5 * capital, 0.5 * capital
                else:
                    na = capital * a[t] / (a[t] + abs(h) * b[t])
                    nb = capital - na
                new_a, new_b = d * na / a[t], -d * math.copysign(1.0, h) * nb / b[t]
            else:
                new_a, new_b = 0.0, 0.0
            cash -= (new_a - qa) * a[t] + (new_b - qb) * b[t]
            cash -= rate * (abs(new_a - qa) * a[t] + abs(new_b - qb) * b[t])
            qa, qb = new_a, new_b
        equity[t] = cash + qa * a[t] + qb * b[t]
    return equity


@pytest.mark.parametrize("fill", ["next_close", "same_close"])
@pytest.mark.parametrize("sizing", ["dollar_neutral", "beta_neutral"])
@pytest.mark.parametrize("hedge", ["ols", "rolling"])
def test_equity_matches_cash_and_shares_simulation(
    msft_jnj: tuple[np.ndarray, np.ndarray, np.ndarray], fill: str, sizing: str, hedge: str
) -> None:
    a, b, times = msft_jnj
    params = StrategyParams(
        entry_z=1.8,
        exit_z=0.3,
        stop_z=3.5,
        lookback=40,
        time_stop_half_lives=2.0,
        sizing=sizing,  # type: ignore[arg-type]
    )
    costs = Costs(commission_bps=2.0, slippage_bps=5.0, borrow_bps_annual=300.0)
    run = run_single(a, b, times, params, costs, fill, hedge, capital=1e5)
    hedge_series = compute_spread_series(a, b, [40], hedge=hedge).hedge_ratio[:, 0]
    offset = 1 if fill == "next_close" else 0
    oracle = oracle_equity(run.actions, hedge_series, a, b, params, costs, 1e5, offset)
    assert len(run.trades) > 5
    np.testing.assert_allclose(run.equity, oracle, rtol=0, atol=1e-7)
    np.testing.assert_allclose(run.returns, np.diff(oracle, prepend=1e5) / 1e5, atol=1e-12)
    check_trades(run, a, b, offset)


def check_trades(run: BacktestRun, a: np.ndarray, b: np.ndarray, offset: int) -> None:
    trade_pnl = sum(trade.pnl for trade in run.trades)
    assert trade_pnl == pytest.approx(run.equity[-1] - run.equity[0] + run.pnl[0], abs=1e-7)
    decided = np.flatnonzero(run.actions)
    filled_bars = decided[decided + offset < len(a)] + offset
    entries = [trade.entry_time for trade in run.trades]
    assert entries == [run.times[t] for t in filled_bars[::2]]
    for trade in run.trades:
        leg_a, leg_b = trade.legs
        assert np.sign(leg_a.shares) == trade.direction
        entry = int(np.flatnonzero(run.times == trade.entry_time)[0])
        gross = abs(leg_a.shares) * a[entry] + abs(leg_b.shares) * b[entry]
        assert gross == pytest.approx(1e5, rel=1e-12)
        assert run.positions[entry] == trade.direction
        if trade.exit_time is not None:
            assert trade.reason in ("close", "stop", "time_stop", "forced_close")
            exit_bar = int(np.flatnonzero(run.times == trade.exit_time)[0])
            assert run.positions[exit_bar] == 0
            assert run.shares_a[exit_bar] == 0.0 and run.shares_b[exit_bar] == 0.0


def test_beta_neutral_holds_hedge_ratio_shares_and_costs_lower_pnl(
    msft_jnj: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    a, b, times = msft_jnj
    params = StrategyParams(lookback=30, sizing="beta_neutral")
    free = run_single(a, b, times, params, Costs(), hedge_ratio=0.9)
    costly = run_single(a, b, times, params, Costs(commission_bps=10.0), hedge_ratio=0.9)
    for trade in free.trades:
        assert -trade.legs[1].shares / trade.legs[0].shares == pytest.approx(0.9, rel=1e-12)
    assert [t.entry_time for t in free.trades] == [t.entry_time for t in costly.trades]
    fees = sum(t.costs for t in costly.trades)
    assert fees > 0
    assert free.equity[-1] - costly.equity[-1] == pytest.approx(fees, rel=1e-9)


def test_last_bar_decision_is_not_filled_with_next_close() -> None:
    n = 80
    a = 10 + 0.01 * np.arange(n)
    b = 20 + 0.02 * np.arange(n)
    z = np.zeros(n)
    z[-1] = -3.0  # the only entry signal, on the last bar
    spreads = SpreadSeries.single(z, np.ones(n), np.full(n, 5.0), lookback=60)
    params = StrategyParams()
    late = run_single(a, b, np.arange(n), params, Costs(), spreads=spreads)
    assert late.actions[-1] == 1 and late.trades == [] and (late.pnl == 0).all()
    same = run_single(a, b, np.arange(n), params, Costs(), "same_close", spreads=spreads)
    assert len(same.trades) == 1 and same.trades[0].exit_time is None
    assert same.trades[0].reason == "open" and same.positions[-1] == 1
