from __future__ import annotations

import math

import pytest

from core.portfolio import Costs, LegWeight, PairSignal, PortfolioConfig, order_id
from tests.unit.portfolio.helpers import day


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"capital": 0.0}, "capital must be finite and > 0"),
        ({"capital": math.inf}, "capital must be finite and > 0"),
        ({"allocation": "kelly"}, "allocation must be one of"),
        ({"vol_lookback": 1}, "vol_lookback must be >= 2"),
        ({"gross_leverage_cap": -1.0}, "gross_leverage_cap must be finite and > 0"),
        ({"max_net_exposure": 0.0}, "max_net_exposure must be finite and > 0"),
        ({"max_symbol_exposure": math.nan}, "max_symbol_exposure must be finite"),
        ({"drawdown_kill": 1.5}, "drawdown_kill must be <= 1.0"),
        ({"max_pairs": 0}, "max_pairs must be an int >= 1"),
        ({"portfolio_id": ""}, "portfolio_id must be 1-128 characters"),
    ],
)
def test_config_rejects_bad_values_precisely(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PortfolioConfig(**kwargs)  # type: ignore[arg-type]


def test_costs_validate_and_convert_bps() -> None:
    with pytest.raises(ValueError, match="commission_bps must be finite and >= 0"):
        Costs(commission_bps=-1.0)
    costs = Costs(commission_bps=1.0, slippage_bps=2.0, borrow_bps_annual=252.0)
    assert costs.trade_rate == pytest.approx(3e-4)
    assert costs.borrow_rate_per_bar == pytest.approx(1e-4)


def test_backtest_reexports_the_core_costs() -> None:
    from services.backtest.engine import Costs as BacktestCosts

    assert BacktestCosts is Costs


def test_signal_validation() -> None:
    legs = (LegWeight("A", "buy", 0.5), LegWeight("B", "sell", 0.5))
    with pytest.raises(ValueError, match="unknown signal action"):
        PairSignal("s", "A~B", "buy_everything", day(0), 1.0, legs)
    with pytest.raises(ValueError, match="timezone-aware"):
        PairSignal("s", "A~B", "close", day(0).replace(tzinfo=None), 1.0, ())
    with pytest.raises(ValueError, match="distinct symbols"):
        PairSignal("s", "A~B", "open_long_spread", day(0), 1.0, legs[:1] * 2)
    with pytest.raises(ValueError, match="hedge_ratio of an entry must be finite"):
        PairSignal("s", "A~B", "open_long_spread", day(0), math.nan, legs)
    with pytest.raises(ValueError, match="leg weight must be finite"):
        LegWeight("A", "buy", -0.1)


def test_order_ids_are_deterministic_and_distinct() -> None:
    first = order_id("default", day(3), "CVX")
    assert first == order_id("default", day(3), "CVX")
    assert first.startswith("ord-")
    others = {order_id("default", day(4), "CVX"), order_id("other", day(3), "CVX"),
              order_id("default", day(3), "XOM")}  # fmt: skip
    assert first not in others and len(others) == 3
