"""TITAN_PORTFOLIO_* settings to the domain's config; events to and from the domain."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError

from core.portfolio import Costs
from services.portfolio.convert import (
    latest_closes,
    lifecycle_change,
    marked_event_id,
    order_event_id,
    pair_signal,
)
from services.portfolio.settings import PortfolioSettings
from tests.unit.portfolio_service.builders import bar, day, lifecycle, signal

DSN = "postgresql://x@localhost/x"


def test_settings_give_the_domain_config() -> None:
    s = PortfolioSettings(database_url=DSN, portfolio_capital=5e5, portfolio_allocation="vol_target",
                          portfolio_max_pairs=3, portfolio_drawdown_kill=0.2,
                          portfolio_commission_bps=1.5, portfolio_bars_per_year=250)  # fmt: skip
    c = s.portfolio_config()
    assert (c.capital, c.allocation, c.max_pairs, c.drawdown_kill) == (5e5, "vol_target", 3, 0.2)
    assert c.costs == Costs(commission_bps=1.5, bars_per_year=250.0)
    assert c.max_net_exposure is None and c.max_gross_exposure is None


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_PORTFOLIO_MAX_SYMBOL_EXPOSURE", "0.25")
    monkeypatch.setenv("TITAN_PORTFOLIO_ID", "book-1")
    c = PortfolioSettings(database_url=DSN).portfolio_config()
    assert c.max_symbol_exposure == 0.25 and c.portfolio_id == "book-1"


@pytest.mark.parametrize(
    "bad",
    [
        {"portfolio_capital": 0},
        {"portfolio_allocation": "kelly"},
        {"portfolio_drawdown_kill": 1.5},
        {"portfolio_max_pairs": 0},
        {"portfolio_vol_lookback": 1},
        {"portfolio_slippage_bps": -1},
        {"portfolio_gross_leverage_cap": "inf"},
    ],
)
def test_bad_settings_fail_at_start_up(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PortfolioSettings(database_url=DSN, **bad)


def test_signal_and_lifecycle_to_the_domain() -> None:
    s = pair_signal(signal("AAA~BBB", "open_short_spread", 3, hedge=1.3).payload)
    assert (s.pair_id, s.action, s.bar_time, s.hedge_ratio) == ("AAA~BBB", "open_short_spread",
                                                                day(3), 1.3)  # fmt: skip
    assert [(leg.symbol, leg.side) for leg in s.legs] == [("AAA", "sell"), ("BBB", "buy")]
    assert pair_signal(signal("AAA~BBB", "close", 4).payload).legs == ()
    assert lifecycle_change(lifecycle("AAA~BBB", "retired", 5).payload) == ("AAA~BBB", "retired",
                                                                            day(5))  # fmt: skip


def test_an_entry_without_weight_is_refused() -> None:
    payload = signal("AAA~BBB", "open_long_spread", 3).payload
    legs = [leg.model_copy(update={"weight": 0.0}) for leg in payload.legs]
    with pytest.raises(ValueError, match="weights"):
        pair_signal(payload.model_copy(update={"legs": legs}))


def test_event_ids_come_from_content_only() -> None:
    assert order_event_id("ord-1") == order_event_id("ord-1") != order_event_id("ord-2")
    assert marked_event_id("default", day(1)) == marked_event_id("default", day(1))
    assert marked_event_id("default", day(1)) != marked_event_id("other", day(1))
    assert isinstance(order_event_id("ord-1"), uuid.UUID)


def test_latest_closes_keep_the_highest_revision_whatever_the_order() -> None:
    bars = [bar("AAA", 0, price=10.0, revision=2), bar("AAA", 0, price=9.0, revision=1),
            bar("BBB", 0, price=20.0), bar("AAA", 1, price=11.0)]  # fmt: skip
    assert latest_closes(bars, "1d") == {day(0): {"AAA": 10.0, "BBB": 20.0}, day(1): {"AAA": 11.0}}
    assert latest_closes(bars, "1h") == {}
