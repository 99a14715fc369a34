"""The portfolio's /metrics: gauges equal the last PositionsMarked event, counters the
orders decided, rejections labelled by rule, and a restart restores the gauges from the
stored book."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from core.portfolio import Costs, PortfolioConfig
from services.portfolio.metrics import rejection_rule
from tests.unit.portfolio_service.builders import scenario
from tests.unit.portfolio_service.driver import Run, new_handlers, run_releases

CONFIG = PortfolioConfig(capital=100_000.0, costs=Costs(commission_bps=1.0, slippage_bps=2.0))
DAYS = 12
GAUGES = {
    "titan_portfolio_equity": "equity",
    "titan_portfolio_gross_exposure": "gross_exposure",
    "titan_portfolio_net_exposure": "net_exposure",
    "titan_portfolio_drawdown": "drawdown",
}


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, f"{name}{labels} not exposed"
    return value


def _last_mark(run: Run) -> dict[str, Any]:
    marks = run.by_topic()["PositionsMarked"].values()
    return max(marks, key=lambda m: m["bar_time"])


async def test_gauges_and_counters_follow_the_book() -> None:
    run = await run_releases(CONFIG, scenario(DAYS), run=Run(registry=CollectorRegistry()))
    assert run.registry is not None
    mark = _last_mark(run)
    assert mark["gross_exposure"] > 0  # a position is open: the gauges are not trivially 0
    for name, field in GAUGES.items():
        assert _value(run.registry, name) == pytest.approx(mark[field], rel=1e-12)
    assert _value(run.registry, "titan_portfolio_pnl") == pytest.approx(
        mark["equity"] - CONFIG.capital, rel=1e-12
    )
    assert _value(run.registry, "titan_portfolio_bar_pnl") == pytest.approx(mark["pnl"])
    assert _value(run.registry, "titan_portfolio_kill_switch") == 0.0
    sides = Counter(o["side"] for o in run.by_topic()["OrderPlanned"].values())
    assert set(sides) == {"buy", "sell"}
    for side, count in sides.items():
        assert _value(run.registry, "titan_portfolio_orders_total", side=side) == count


async def test_rejections_are_counted_by_rule() -> None:
    config = PortfolioConfig(capital=100_000.0, max_pairs=1)
    run = await run_releases(config, scenario(DAYS), run=Run(registry=CollectorRegistry()))
    assert run.registry is not None
    rejected = _value(run.registry, "titan_portfolio_rejections_total", reason="max_pairs")
    assert rejected >= 1
    labels = {
        s.labels["reason"]
        for metric in run.registry.collect()
        for s in metric.samples
        if s.name == "titan_portfolio_rejections_total"
    }
    assert labels == {"max_pairs"}


async def test_a_restart_restores_the_gauges_from_the_stored_book() -> None:
    run = await run_releases(CONFIG, scenario(DAYS))
    mark = _last_mark(run)
    registry = CollectorRegistry()
    await new_handlers(CONFIG, run.store, registry)
    for name, field in GAUGES.items():
        assert _value(registry, name) == pytest.approx(mark[field], rel=1e-9)
    assert _value(registry, "titan_portfolio_pnl") == pytest.approx(mark["equity"] - 100_000.0)


async def test_a_new_book_shows_its_capital_and_no_exposure() -> None:
    registry = CollectorRegistry()
    await new_handlers(CONFIG, Run().store, registry)
    assert _value(registry, "titan_portfolio_equity") == CONFIG.capital
    assert _value(registry, "titan_portfolio_gross_exposure") == 0.0
    assert _value(registry, "titan_portfolio_kill_switch") == 0.0


@pytest.mark.parametrize(
    ("reason", "rule"),
    [
        ("kill-switch: drawdown 0.2100 >= 0.2 at 2020-01-02T00:00:00+00:00; new entries "
         "blocked, exits allowed", "kill_switch"),
        ("A~B: max_pairs 1 reached (1 open): no entry", "max_pairs"),
        ("A~B: gross exposure 2.1000 > limit 2: entries rejected", "gross_exposure"),
        ("A~B: net exposure 0.6000 > limit 0.5: entries rejected", "net_exposure"),
        ("A~B: symbol exposure 0.3000 > limit 0.25: entries rejected", "symbol_exposure"),
        ("A~B: equity -1.00 <= 0: no entry", "no_equity"),
        ("A~B: pair retired: no entry", "pair_retired"),
        ("A~B: no close for A: no entry", "unpriced"),
        ("something new", "other"),
    ],
)  # fmt: skip
def test_a_rejection_reason_maps_to_its_rule(reason: str, rule: str) -> None:
    assert rejection_rule(reason) == rule
