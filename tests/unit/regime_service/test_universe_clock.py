"""The universe clock: complete bar times only, in order, whatever the interleaving."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from core.regime import market_returns
from services.regime.domain import MarketPoint, UniverseClock
from tests.unit.regime_service.builders import day

SYMBOLS = ("AAA", "BBB", "CCC")


def _prices(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, len(SYMBOLS))), axis=0))


def _run(clock: UniverseClock, stream: list[tuple[str, int, float]]) -> list[MarketPoint]:
    points: list[MarketPoint] = []
    for symbol, i, close in stream:
        points += clock.add(symbol, day(i), close)
    return points


@settings(max_examples=60, deadline=None)
@given(order=st.lists(st.integers(0, len(SYMBOLS) - 1), min_size=3 * 30, max_size=3 * 30))
def test_market_points_do_not_depend_on_interleaving(order: list[int]) -> None:
    n = 30
    prices = _prices(n)
    queues = {s: [(s, i, float(prices[i, k])) for i in range(n)] for k, s in enumerate(SYMBOLS)}
    # Any merge of the per-symbol streams (each kept in order) is a possible delivery.
    stream: list[tuple[str, int, float]] = []
    for pick in order:
        for offset in range(len(SYMBOLS)):
            queue = queues[SYMBOLS[(pick + offset) % len(SYMBOLS)]]
            if queue:
                stream.append(queue.pop(0))
                break
    points = _run(UniverseClock(members=SYMBOLS, stale_after=1000), stream)
    expected = market_returns(prices)
    assert [p.bar_time for p in points] == [day(i) for i in range(n)]
    assert points[0].value is None
    assert [p.value for p in points[1:]] == [float(v) for v in expected]


def test_round_robin_and_symbol_by_symbol_agree_and_restore_midway() -> None:
    n = 25
    prices = _prices(n, seed=7)
    by_symbol = [(s, i, float(prices[i, k])) for k, s in enumerate(SYMBOLS) for i in range(n)]
    round_robin = [(s, i, float(prices[i, k])) for i in range(n) for k, s in enumerate(SYMBOLS)]
    a = _run(UniverseClock(members=SYMBOLS, stale_after=1000), by_symbol)
    clock = UniverseClock(members=SYMBOLS, stale_after=1000)
    b = _run(clock, round_robin[:40])
    restored = UniverseClock.from_dict(clock.to_dict())
    b += _run(restored, round_robin[40:])
    assert a == b
    assert len(a) == n


def test_benchmark_uses_only_its_symbol_and_matches_log_returns() -> None:
    prices = _prices(10)[:, 0]
    clock = UniverseClock(benchmark="SPX")
    stream = [("SPX", i, float(prices[i])) for i in range(10)]
    stream.insert(3, ("AAA", 2, 55.0))  # other symbols are not part of a benchmark universe
    points = _run(clock, stream)
    assert [p.value for p in points[1:]] == [float(v) for v in market_returns(prices)]


def test_fixed_universe_waits_for_every_member() -> None:
    clock = UniverseClock(members=("AAA", "BBB"))
    assert clock.add("AAA", day(0), 10.0) == []
    assert clock.add("AAA", day(1), 11.0) == []
    points = clock.add("BBB", day(1), 20.0)
    assert [p.bar_time for p in points] == [day(0), day(1)]


def test_a_gap_excludes_the_symbol_for_that_bar_time() -> None:
    clock = UniverseClock(members=("AAA", "BBB"), stale_after=1000)
    _run(clock, [("AAA", 0, 10.0), ("BBB", 0, 20.0)])
    # BBB skips day 1; its bar on day 2 shows day 1 is complete without it.
    points = _run(clock, [("AAA", 1, 11.0), ("BBB", 2, 22.0), ("AAA", 2, 11.0)])
    assert [p.bar_time for p in points] == [day(1), day(2)]
    assert points[0].value == float(market_returns(np.array([10.0, 11.0]))[0])
    both = market_returns(np.array([[11.0, 20.0], [11.0, 22.0]]))[0]
    assert points[1].value == float(both)


def test_revision_of_a_pending_close_replaces_it_and_of_a_consumed_one_moves_the_base() -> None:
    clock = UniverseClock(members=("AAA", "BBB"))
    _run(clock, [("AAA", 0, 10.0), ("BBB", 0, 20.0), ("AAA", 1, 11.0)])
    clock.add("AAA", day(1), 12.0)  # correction before day 1 is complete
    (point,) = clock.add("BBB", day(1), 20.0)
    assert point.value == float(market_returns(np.array([[10.0, 20.0], [12.0, 20.0]]))[0])
    clock.add("AAA", day(1), 13.0)  # correction after: the next return starts from 13
    clock.add("AAA", day(2), 13.0)
    (point,) = clock.add("BBB", day(2), 20.0)
    assert point.value == 0.0


def test_a_stale_symbol_is_dropped_and_rejoins() -> None:
    clock = UniverseClock(members=("AAA", "BBB"), stale_after=3)
    _run(clock, [("AAA", 0, 10.0), ("BBB", 0, 20.0)])
    points = _run(clock, [("AAA", i, 10.0 + i) for i in range(1, 5)])
    # The 4th pending bar time (> stale_after = 3) drops BBB, which completes days 1-4.
    assert [p.bar_time for p in points] == [day(i) for i in range(1, 5)]
    assert "BBB" not in clock.active
    clock.add("BBB", day(6), 21.0)
    assert "BBB" in clock.active
    points = clock.add("AAA", day(6), 16.0)
    # Day 6 waits for both members again.
    assert [p.bar_time for p in points] == [day(6)]


def test_discovery_mode_lets_the_first_symbol_seen_drive_the_clock() -> None:
    clock = UniverseClock(stale_after=1000)
    assert [p.bar_time for p in clock.add("AAA", day(0), 10.0)] == [day(0)]
    clock.add("BBB", day(0), 20.0)  # too late for day 0: ignored, BBB joins from day 1
    assert clock.add("AAA", day(1), 11.0) == []
    assert [p.bar_time for p in clock.add("BBB", day(1), 21.0)] == [day(1)]
