"""Universe clock: any interleaving of the same per-symbol streams gives identical outputs."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from services.pairs.domain.lifecycle import LifecycleSettings
from services.pairs.domain.pipeline import Effects, Pipeline, PipelineConfig
from services.pairs.domain.screening import ScreenSettings
from services.pairs.domain.universe import BarClose, Universe, UniverseConfig
from tests.event_time_kit import released_batches
from tests.unit.pairs_service.synthetic import (
    bar_times,
    interleave,
    planted_universe,
    streams,
)

CONFIG = PipelineConfig(
    universe=UniverseConfig(
        symbols=("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"),
        stale_after=10_000,
        max_ffill=3,
        keep_rows=10_001,
    ),
    screen=ScreenSettings(window=120, every=20),
    lifecycle=LifecycleSettings(confirm_screens=2, degrade_screens=2, retire_screens=3),
)


def run(bars: list[BarClose], chunk: int = 50) -> Effects:
    pipe = Pipeline(CONFIG)
    fx = Effects()
    for lo in range(0, len(bars), chunk):
        pipe.on_bars(bars[lo : lo + chunk], fx)
    return fx


def fingerprint(fx: Effects) -> list[tuple[object, ...]]:
    return [
        (e.topic, e.key, str(e.event_id), e.occurred_at, e.payload.model_dump_json())
        for e in fx.events
    ]


@pytest.fixture(scope="module")
def per_symbol() -> dict[str, list[BarClose]]:
    symbols, prices = planted_universe(400)
    return streams(symbols, prices, revisions=True)


def test_interleavings_and_batch_sizes_give_identical_events(
    per_symbol: dict[str, list[BarClose]],
) -> None:
    reference = run(interleave(per_symbol, seed=0))
    assert reference.events, "the planted pairs must produce events"
    topics = {e.topic for e in reference.events}
    assert topics == {"pairs.tests.v1", "pairs.lifecycle.v1", "pairs.spreads.v1"}
    for seed, chunk in ((1, 1), (2, 7), (3, 500), (4, 10_000)):
        other = run(interleave(per_symbol, seed=seed), chunk=chunk)
        assert fingerprint(other) == fingerprint(reference), (seed, chunk)
        assert other.completed == reference.completed


def test_planted_pairs_become_active_and_noise_does_not(
    per_symbol: dict[str, list[BarClose]],
) -> None:
    fx = run(interleave(per_symbol, seed=5))
    active = {e.key for e in fx.events if e.topic == "pairs.lifecycle.v1"
              and e.payload.to_state == "active"}  # fmt: skip
    assert {frozenset(k.split("~")) for k in active} == {
        frozenset({"AAA", "BBB"}),
        frozenset({"CCC", "DDD"}),
    }


def test_bar_time_completes_only_when_every_symbol_reached_it() -> None:
    u = Universe(UniverseConfig(symbols=("A", "B"), stale_after=100, max_ffill=2, keep_rows=200))
    t = bar_times(4)
    u.observe(BarClose("A", t[0], 10.0, 0))
    u.observe(BarClose("A", t[1], 11.0, 0))
    assert u.advance() is None  # B has nothing yet
    u.observe(BarClose("B", t[0], 20.0, 0))
    done = u.advance()
    assert done is not None and done.bar_time == t[0] and done.seq == 1
    assert u.advance() is None  # t1: B has not reached it
    u.observe(BarClose("B", t[2], 22.0, 0))  # B skipped t1: a gap
    done = u.advance()
    assert done is not None and done.bar_time == t[1]
    eff = u.effective()
    assert eff[-1].tolist() == [11.0, 20.0]  # B forward-filled


def test_revision_applies_after_the_symbols_stream_position() -> None:
    u = Universe(UniverseConfig(symbols=("A", "B"), stale_after=100, max_ffill=0, keep_rows=200))
    t = bar_times(4)
    for bar in [BarClose("A", t[0], 1.0, 0), BarClose("A", t[1], 2.0, 0)]:
        u.observe(bar)
    obs = u.observe(BarClose("A", t[0], 1.5, 1))  # correction seen while A is at t1
    assert obs.deferred is not None and obs.deferred.after == t[1]
    for bar in [BarClose("B", t[0], 5.0, 0), BarClose("B", t[1], 6.0, 0)]:
        u.observe(bar)
    assert u.advance() is not None and u.advance() is not None
    assert u.effective()[0, 0] == 1.0  # not yet: t0 and t1 are not after t1
    u.observe(BarClose("A", t[2], 3.0, 0))
    u.observe(BarClose("B", t[2], 7.0, 0))
    done = u.advance()
    assert done is not None and [d.bar.close for d in done.applied] == [1.5]
    assert u.effective()[0, 0] == 1.5
    # a lower revision never overwrites a higher one
    u.observe(BarClose("A", t[0], 9.9, 0))
    u.observe(BarClose("A", t[3], 4.0, 0))
    u.observe(BarClose("B", t[3], 8.0, 0))
    assert u.advance() is not None
    assert u.effective()[0, 0] == 1.5


def test_gap_longer_than_ffill_limit_excludes_the_symbol() -> None:
    u = Universe(UniverseConfig(symbols=("A", "B"), stale_after=100, max_ffill=1, keep_rows=200))
    t = bar_times(5)
    for i in range(5):
        u.observe(BarClose("A", t[i], 10.0 + i, 0))
    u.observe(BarClose("B", t[0], 5.0, 0))
    u.observe(BarClose("B", t[4], 6.0, 0))
    while u.advance() is not None:
        pass
    col = u.effective()[:, 1]
    assert col[0] == 5.0 and col[1] == 5.0 and np.isnan(col[2]) and np.isnan(col[3])
    assert col[4] == 6.0


def test_a_stale_symbol_stops_blocking_the_clock() -> None:
    u = Universe(UniverseConfig(symbols=("A", "B"), stale_after=3, max_ffill=0, keep_rows=200))
    t = bar_times(10)
    u.observe(BarClose("B", t[0], 1.0, 0))
    for i in range(10):
        u.observe(BarClose("A", t[i], 1.0, 0))
    done = []
    while (c := u.advance()) is not None:
        done.append(c.bar_time)
    assert u.stale_symbols() == ["B"]
    assert done == t  # B silent for > 3 newer bar times: dropped from the minimum


def test_symbols_outside_a_configured_universe_are_ignored() -> None:
    u = Universe(UniverseConfig(symbols=("A",), stale_after=5, max_ffill=0, keep_rows=20))
    obs = u.observe(BarClose("ZZZ", bar_times(1)[0] + timedelta(hours=1), 1.0, 0))
    assert obs.ignored is not None and "ZZZ" in obs.ignored


def run_released(bars: list[BarClose], batch: int, lag: int) -> Effects:
    """As the service runs: bars released by event time (each symbol its own partition)."""
    pipe = Pipeline(CONFIG)
    fx = Effects()
    symbols = sorted({b.symbol for b in bars})
    arrivals = [(symbols.index(b.symbol), b) for b in bars]

    def order(b: BarClose) -> tuple[datetime, tuple[object, ...]]:
        return b.bar_time, (b.symbol, b.revision)

    for released in released_batches(arrivals, order, batch, lag=lag):
        pipe.on_released(released, fx)
    return fx


def test_released_by_event_time_any_interleaving_gives_identical_events(
    per_symbol: dict[str, list[BarClose]],
) -> None:
    """Symbols start late and stop early here too (no staleness rule decides anything).
    Revisions come 3 bars after their bar, so the producer's watermark trails by 4 times
    (market_data's grace does the same)."""
    trimmed = {
        s: bars[20 * k : len(bars) - 15 * k] for k, (s, bars) in enumerate(per_symbol.items())
    }
    reference = run_released(interleave(trimmed, seed=0), batch=10_000, lag=4)
    assert reference.events
    for seed, batch, lag in ((1, 1, 4), (2, 7, 5), (3, 500, 4), (4, 33, 10)):
        other = run_released(interleave(trimmed, seed=seed), batch=batch, lag=lag)
        assert fingerprint(other) == fingerprint(reference), (seed, batch, lag)
        assert other.completed == reference.completed
