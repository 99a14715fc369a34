"""Parity: the live service's path (routes, event-time releases, restarts from the store)
gives exactly the fills and PnL of core's portfolio backtest over the same events, fed
through the same conversion as `titan demo --offline` (titan/portfolio_parity.py)."""

from __future__ import annotations

from typing import Any

import pytest

from core.portfolio import Costs, PortfolioConfig
from services.portfolio.convert import outcome_events
from tests.unit.portfolio_service.builders import day, long_scenario
from tests.unit.portfolio_service.driver import run_releases
from titan.offline import portfolio_stage
from titan.portfolio_parity import backtest_inputs, backtest_outcomes
from titan.portfolio_summary import portfolio_summary

DAYS = 80
CONFIGS = {
    "equal": PortfolioConfig(capital=100_000.0, costs=Costs(1.0, 2.0, 50.0)),
    "inverse_vol": PortfolioConfig(
        capital=100_000.0,
        allocation="inverse_vol",
        vol_lookback=5,
        max_symbol_exposure=0.6,
        costs=Costs(1.0, 2.0, 50.0),
    ),
    "vol_target": PortfolioConfig(
        capital=100_000.0, allocation="vol_target", vol_lookback=5, max_pairs=1, drawdown_kill=0.01
    ),
}


def _by_bar(marks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["bar_time"]: m for m in marks}


@pytest.mark.parametrize("name", sorted(CONFIGS))
async def test_live_replay_equals_the_portfolio_backtest(name: str) -> None:
    config = CONFIGS[name]
    events = long_scenario(DAYS)
    live = await run_releases(config, events, watermarks=[day(n) for n in range(0, DAYS, 3)],
                              restart_every=2)  # fmt: skip
    outcomes = backtest_outcomes(config, backtest_inputs(events, "1d"))
    backtest: dict[str, dict[str, Any]] = {}
    for outcome in outcomes:
        for ev in outcome_events(config.portfolio_id, outcome):
            backtest.setdefault(ev.payload.EVENT_TYPE, {})[str(ev.event_id)] = (
                ev.payload.model_dump(mode="json")
            )
    got = live.by_topic()
    assert got == backtest  # every order, fill and mark, to the bit
    # and to 1e-9 as numbers: fills and PnL per bar and per pair
    live_marks = _by_bar(list(got["PositionsMarked"].values()))
    fills = 0
    for outcome in outcomes:
        mark = live_marks[outcome.mark.bar_time.isoformat().replace("+00:00", "Z")]
        assert mark["equity"] == pytest.approx(outcome.mark.equity, abs=1e-9)
        assert mark["pnl"] == pytest.approx(outcome.mark.pnl, abs=1e-9)
        pairs = {p["pair_id"]: p["pnl"] for p in mark["pairs"]}
        for p in outcome.mark.pairs:
            assert pairs[p.pair_id] == pytest.approx(p.pnl, abs=1e-9)
        live_fills = {f["order_id"]: f for f in mark["fills"]}
        for f in outcome.fills:
            assert live_fills[f.order_id]["price"] == pytest.approx(f.price, abs=1e-9)
            assert live_fills[f.order_id]["quantity"] == pytest.approx(f.quantity, abs=1e-9)
            assert live_fills[f.order_id]["cost"] == pytest.approx(f.cost, abs=1e-9)
            fills += 1
    assert fills >= (2 if name == "vol_target" else 10)  # vol_target: the kill-switch trips


def test_demo_summary_metrics_are_the_backtests() -> None:
    from core.portfolio import run_portfolio_backtest

    config = CONFIGS["equal"]
    events = long_scenario(DAYS)
    env = {"TITAN_PORTFOLIO_CAPITAL": "100000", "TITAN_PORTFOLIO_COMMISSION_BPS": "1",
           "TITAN_PORTFOLIO_SLIPPAGE_BPS": "2", "TITAN_PORTFOLIO_BORROW_BPS_ANNUAL": "50"}  # fmt: skip
    published = portfolio_stage(dict(events), env)
    pairs = {t: [(str(e.event_id), e.payload.model_dump(mode="json")) for e in evs]
             for t, evs in published.items()}  # fmt: skip
    from titan.digests import topic_digest

    digests = {t: topic_digest(v) for t, v in pairs.items()}
    summary = portfolio_summary(pairs, digests)
    inputs = backtest_inputs(events, "1d")
    result = run_portfolio_backtest(config, inputs.closes, inputs.signals, inputs.lifecycle)
    assert summary["bars"] == DAYS and summary["orders"] == len(result.orders) > 10
    assert summary["netted_orders"] == result.netted_legs > 0
    assert summary["total_return"] == pytest.approx(result.total_return, abs=1e-12)
    assert summary["sharpe"] == pytest.approx(result.sharpe, abs=1e-9)
    assert summary["max_drawdown"] == pytest.approx(result.max_drawdown, abs=1e-12)
