"""The portfolio handlers as the runtime drives them: one output whatever the releases,
restarts and copies; the book stepped once per bar time after its signals; what is stored."""

from __future__ import annotations

import pytest

from core.portfolio import Costs, PortfolioConfig
from tests.unit.portfolio_service.builders import bar, day, scenario, signal
from tests.unit.portfolio_service.driver import run_releases

CONFIG = PortfolioConfig(capital=100_000.0, costs=Costs(commission_bps=1.0, slippage_bps=2.0,
                                                         borrow_bps_annual=50.0))  # fmt: skip
DAYS = 12


@pytest.fixture(scope="module")
def calm() -> dict[str, dict[str, object]]:
    import asyncio

    return asyncio.run(run_releases(CONFIG, scenario(DAYS))).by_topic()


async def test_one_mark_per_bar_time_and_orders_for_the_entries(calm: dict) -> None:
    marks = calm["PositionsMarked"]
    assert sorted(m["bar_time"] for m in marks.values()) == [
        day(n).isoformat().replace("+00:00", "Z") for n in range(DAYS)
    ]
    orders = list(calm["OrderPlanned"].values())
    decided = {o["decided_at"][:10] for o in orders}
    # entries at day 2's close, exits at days 6 and 8, AAA~BBB's retirement changes nothing more
    assert "2020-01-08" in decided
    entry = [o for o in orders if o["decided_at"].startswith("2020-01-08")]
    assert {o["symbol"] for o in entry} <= {"AAA", "BBB", "CCC"}
    assert all(o["order_id"].startswith("ord-") for o in orders)


async def test_opposite_legs_of_two_pairs_net_into_one_order(calm: dict) -> None:
    entry = {o["symbol"]: o for o in calm["OrderPlanned"].values()
             if o["decided_at"].startswith("2020-01-08")}  # fmt: skip
    bbb = entry.get("BBB")
    if bbb is not None:  # both pairs trade BBB: one order carries both contributions
        assert {c["pair_id"] for c in bbb["contributions"]} == {"AAA~BBB", "CCC~BBB"}
        assert bbb["quantity"] == pytest.approx(
            abs(sum(c["quantity"] for c in bbb["contributions"]))
        )
    netted = sum(m["netted_legs"] for m in calm["PositionsMarked"].values())
    assert netted >= 1


@pytest.mark.parametrize("restart_every", [0, 1, 3])
async def test_same_output_whatever_the_releases_and_restarts(
    calm: dict, restart_every: int
) -> None:
    steps = [day(n) for n in range(DAYS + 1)] + [day(n) for n in range(0, DAYS, 2)]
    run = await run_releases(CONFIG, scenario(DAYS), watermarks=sorted(set(steps)),
                             restart_every=restart_every)  # fmt: skip
    assert run.by_topic() == calm


async def test_inputs_delivered_twice_change_nothing(calm: dict) -> None:
    once = await run_releases(CONFIG, scenario(DAYS), watermarks=[day(n) for n in range(DAYS + 1)])
    twice = await run_releases(CONFIG, scenario(DAYS), watermarks=[day(n) for n in range(DAYS + 1)],
                               replay_after=True)  # fmt: skip
    assert twice.by_topic() == once.by_topic() == calm
    tables_once, tables_twice = once.store.tables(), twice.store.tables()
    for name in ("orders", "rejections", "fills", "marks"):
        assert tables_twice[name] == tables_once[name]
    late = twice.store.books[CONFIG.portfolio_id].progress.late_events
    assert late > 0  # the copies were seen and ignored


async def test_a_revision_in_the_same_release_replaces_the_close() -> None:
    inputs = scenario(4)
    revised = bar("AAA", 1, price=77.0, revision=1)
    inputs["market.bars.v1"].append(revised)
    run = await run_releases(CONFIG, inputs)
    marks = sorted(run.by_topic()["PositionsMarked"].values(), key=lambda m: m["bar_time"])
    book = run.store.books[CONFIG.portfolio_id]
    assert book.progress.bars == 4 and len(marks) == 4


async def test_signal_the_book_refuses_is_dead_lettered() -> None:
    inputs = scenario(4)
    bad = signal("AAA~BBB", "open_long_spread", 2)
    legs = [leg.model_copy(update={"weight": 0.0}) for leg in bad.payload.legs]
    bad = bad.model_copy(update={"payload": bad.payload.model_copy(update={"legs": legs,
                                                                           "signal_id": "bad"})})  # fmt: skip
    inputs["signals.v1"] = [bad]
    run = await run_releases(CONFIG, inputs)
    assert len(run.dead) == 1 and "rejected by the portfolio service" in run.dead[0][1]


async def test_state_orders_fills_and_marks_are_stored() -> None:
    run = await run_releases(CONFIG, scenario(DAYS))
    tables = run.store.tables()
    assert len(tables["marks"]) == DAYS
    filled = [o for o in tables["orders"].values() if o["status"] == "filled"]
    assert filled and len(filled) == len(tables["fills"])
    progress = run.store.books[CONFIG.portfolio_id].progress
    assert progress.last_bar_time == day(DAYS - 1) and progress.pending_signals == {}
