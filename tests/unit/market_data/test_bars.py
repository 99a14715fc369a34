from __future__ import annotations

import random
from datetime import timedelta

import pytest

from services.market_data.domain import AcceptedTick, BarAggregator, BarConfig, BarRow
from shared.clock import ManualClock
from shared.events import Bar

from .ticks_factory import T0, accepted

ONE_MIN = BarConfig(intervals=("1m",), grace={"1m": timedelta(seconds=30)})


def test_bar_closes_when_the_watermark_reaches_its_end() -> None:
    agg = BarAggregator(ONE_MIN)
    first = agg.apply(
        [accepted("KO", 0, 10.0, 2), accepted("KO", 20, 12.0, 1), accepted("KO", 59, 9.0, 1)]
    )
    assert first.publish == [] and len(first.upserts) == 1 and not first.upserts[0].closed
    second = agg.apply([accepted("KO", 60, 11.0, 1)])
    (bar,) = second.publish
    assert (bar.open, bar.high, bar.low, bar.close) == (10.0, 12.0, 9.0, 9.0)
    assert (bar.volume, bar.trade_count, bar.revision) == (4.0, 3, 0)
    assert bar.vwap == pytest.approx((20.0 + 12.0 + 9.0) / 4.0)
    assert bar.start == T0 and bar.end == T0 + timedelta(minutes=1)
    assert Bar.model_validate(bar.model_dump()) == bar
    assert second.watermarks == {"KO": accepted("KO", 60, 1.0).ts_us}


def test_out_of_order_tick_before_close_updates_open_and_close_by_event_time() -> None:
    agg = BarAggregator(ONE_MIN)
    agg.apply(
        [
            accepted("KO", 30, 10.0),
            accepted("KO", 10, 8.0),
            accepted("KO", 50, 12.0),
            accepted("KO", 40, 11.0),
        ]
    )
    (bar,) = agg.apply([accepted("KO", 61, 1.0)]).publish
    assert (bar.open, bar.close, bar.low, bar.high, bar.trade_count) == (8.0, 12.0, 8.0, 12.0, 4)


def test_late_tick_within_grace_revises_and_beyond_grace_is_late() -> None:
    agg = BarAggregator(ONE_MIN)
    agg.apply([accepted("KO", 10, 10.0), accepted("KO", 70, 10.5)])  # closes [0, 60)
    revised = agg.apply([accepted("KO", 45, 13.0)])  # lateness 25 s <= 30 s
    (bar,) = revised.publish
    assert (bar.revision, bar.high, bar.close, bar.trade_count) == (1, 13.0, 13.0, 2)
    assert (
        bar.bar_id == revised.upserts[0].bar_id
        and bar.event_id() != Bar.model_validate({**bar.model_dump(), "revision": 0}).event_id()
    )
    late = agg.apply([accepted("KO", 39, 14.0)])  # lateness 31 s > 30 s
    assert late.publish == [] and late.upserts == []
    assert [(lt.interval, lt.lateness_us) for lt in late.late] == [("1m", 31_000_000)]


def test_late_tick_for_a_minute_without_trades_publishes_a_new_bar() -> None:
    agg = BarAggregator(ONE_MIN)
    agg.apply([accepted("KO", 10, 10.0), accepted("KO", 125, 10.0)])  # minute [60,120) empty
    (bar,) = agg.apply([accepted("KO", 119, 9.5)]).publish
    assert (bar.start, bar.revision, bar.trade_count) == (T0 + timedelta(minutes=1), 0, 1)


def test_a_tick_can_be_late_for_one_interval_and_on_time_for_another() -> None:
    agg = BarAggregator(BarConfig(intervals=("1m", "1h"), grace={"1m": timedelta(0)}))
    changes = agg.apply(
        [accepted("KO", 10, 10.0), accepted("KO", 90, 10.0), accepted("KO", 20, 11.0)]
    )
    assert [lt.interval for lt in changes.late] == ["1m"]
    hour = next(r for r in changes.upserts if r.interval == "1h")
    assert hour.trade_count == 3 and hour.high == 11.0


def test_close_on_clock_is_off_by_default_and_closes_quiet_bars_when_on() -> None:
    clock = ManualClock(T0 + timedelta(minutes=10))
    quiet = [accepted("KO", 10, 10.0)]
    off = BarAggregator(ONE_MIN)
    off.apply(quiet)
    assert off.close_due(clock).publish == []
    on = BarAggregator(BarConfig(intervals=("1m",), close_on_clock=True))
    on.apply(quiet)
    assert (
        BarAggregator(BarConfig(intervals=("1m",), close_on_clock=True)).close_due(clock).publish
        == []
    )
    (bar,) = on.close_due(clock).publish
    assert bar.revision == 0 and bar.trade_count == 1
    (revised,) = on.apply([accepted("KO", 20, 11.0)]).publish  # the closed bar is revised
    assert (revised.revision, revised.trade_count) == (1, 2)


def test_config_rejects_unknown_intervals() -> None:
    with pytest.raises(ValueError, match="unknown bar interval '5m'"):
        BarConfig(intervals=("1m", "5m"))


def _stream(seed: int, n: int = 3000) -> list[AcceptedTick]:
    """Trades of 3 symbols over ~2 h, shuffled locally so some arrive minutes late."""
    rng = random.Random(seed)
    ticks = [
        accepted(
            rng.choice(["KO", "PEP", "XOM"]),
            i * 2.5 + rng.uniform(0, 2),
            rng.uniform(50, 60),
            rng.randint(0, 9),
            i,
        )
        for i in range(n)
    ]
    for i in range(0, n - 200, 7):  # move some trades up to 200 places (~8 min) later
        j = i + rng.randint(1, 200)
        ticks[i], ticks[j] = ticks[j], ticks[i]
    return ticks


def _run(
    ticks: list[AcceptedTick], cuts: list[int], restore: bool
) -> tuple[list[Bar], dict[object, BarRow], list[object]]:
    config = BarConfig(grace={"1m": timedelta(minutes=3), "1h": timedelta(minutes=3)})
    agg = BarAggregator(config)
    published: list[Bar] = []
    table: dict[object, BarRow] = {}
    late: list[object] = []
    watermarks: dict[str, int] = {}
    for lo, hi in zip([0, *cuts], [*cuts, len(ticks)], strict=True):
        changes = agg.apply(ticks[lo:hi])
        published += changes.publish
        table.update({row.bar_id: row for row in changes.upserts})
        late += [(lt.tick.event_id, lt.interval) for lt in changes.late]
        watermarks.update(changes.watermarks)
        if restore:  # as after SIGKILL: only what the service stored (all bar rows)
            agg = BarAggregator.restore(config, watermarks, list(table.values()))
    return published, table, late


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_output_does_not_depend_on_batching_or_restores(seed: int) -> None:
    ticks = _stream(seed)
    whole = _run(ticks, [], restore=False)
    assert whole[2], "the stream should contain late trades"
    assert any(bar.revision > 0 for bar in whole[0]), "and revisions"
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(ticks)), 40))
    assert _run(ticks, cuts, restore=False) == whole
    assert _run(ticks, cuts, restore=True) == whole


def test_snapshot_restores_the_same_live_state() -> None:
    agg = BarAggregator()
    agg.apply(_stream(7, 500))
    watermarks, rows = agg.snapshot()
    again = BarAggregator.restore(agg.config, watermarks, rows)
    assert again.snapshot() == (watermarks, rows)
