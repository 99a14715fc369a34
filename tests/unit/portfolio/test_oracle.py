"""The book's fills and PnL against the independent pandas statement of the same rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.portfolio import Costs, PortfolioConfig, run_portfolio_backtest
from tests.unit.portfolio.helpers import day, entry, exit_, random_closes
from tests.unit.portfolio.reference import pandas_portfolio

COSTS = Costs(commission_bps=1.0, slippage_bps=2.0, borrow_bps_annual=80.0)


def scenario() -> tuple[pd.DataFrame, list, list]:  # type: ignore[type-arg]
    closes = random_closes(["A", "B", "C", "D"], 120, seed=11)
    closes.iloc[:15, 3] = np.nan  # D lists late
    closes.iloc[50, 2] = np.nan  # C misses a bar: its order waits a bar
    signals = [
        entry("A~B", +1, 3, 0.4), entry("C~B", -1, 5, 0.6), exit_("A~B", 30),
        entry("A~B", -1, 31), entry("C~D", +1, 49, 0.5), entry("C~B", +1, 60),  # flip
        exit_("C~D", 80, "stop"), entry("A~D", +1, 80), entry("A~D", +1, 85),  # repeat
        exit_("C~B", 100, "time_stop"),
    ]  # fmt: skip
    lifecycle = [("A~B", "active", day(0)), ("C~B", "active", day(2)),
                 ("C~D", "active", day(40)), ("A~B", "retired", day(70)),
                 ("A~D", "degraded", day(75))]  # fmt: skip
    return closes, signals, lifecycle


@pytest.mark.parametrize("costs", [Costs(), COSTS])
def test_book_matches_the_pandas_oracle(costs: Costs) -> None:
    closes, signals, lifecycle = scenario()
    config = PortfolioConfig(capital=1e6, costs=costs, max_gross_exposure=100.0)
    book = run_portfolio_backtest(config, closes, signals, lifecycle)
    oracle = pandas_portfolio(config, closes, signals, lifecycle)
    assert not any(o.rejections for o in book.outcomes)
    np.testing.assert_allclose(book.equity.to_numpy(), oracle.equity.to_numpy(), rtol=1e-12)
    pnl = book.pair_pnl.reindex(columns=oracle.pair_pnl.columns, fill_value=0.0)
    np.testing.assert_allclose(pnl.to_numpy(), oracle.pair_pnl.to_numpy(), atol=1e-6)
    fills = pd.DataFrame(
        [(f.filled_at, f.symbol, f.quantity if f.side == "buy" else -f.quantity, f.price, f.cost)
         for f in book.fills], columns=["time", "symbol", "quantity", "price", "cost"],
    ).sort_values(["time", "symbol"], ignore_index=True)  # fmt: skip
    expected = oracle.fills.sort_values(["time", "symbol"], ignore_index=True)
    assert list(fills["symbol"]) == list(expected["symbol"])
    assert list(fills["time"]) == list(pd.to_datetime(expected["time"]))
    np.testing.assert_allclose(fills[["quantity", "price", "cost"]].to_numpy(),
                               expected[["quantity", "price", "cost"]].to_numpy(), rtol=1e-12)  # fmt: skip
    assert len(fills) >= 15
