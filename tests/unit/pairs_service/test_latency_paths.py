"""The per-bar write path and the idle request poller of the pairs service (latency work)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.pairs.domain.pipeline import PipelineConfig
from services.pairs.domain.universe import BarClose, UniverseConfig
from services.pairs.handlers import PairsApp
from services.pairs.store import latest_revisions
from shared.clock import ManualClock
from tests.unit.pairs_service.fake_store import FakePairsStore

T = datetime(2024, 1, 2, tzinfo=UTC)
bar_strategy = st.builds(
    BarClose,
    symbol=st.sampled_from(["X", "Y"]),
    bar_time=st.sampled_from([T, T + timedelta(days=1)]),
    close=st.floats(1.0, 100.0),
    revision=st.integers(0, 3),
)


def upsert_one_by_one(bars: list[BarClose]) -> dict[tuple[str, datetime], BarClose]:
    """The oracle: each bar upserted in order, only over a revision <= its own."""
    table: dict[tuple[str, datetime], BarClose] = {}
    for bar in bars:
        key = (bar.symbol, bar.bar_time)
        if key not in table or table[key].revision <= bar.revision:
            table[key] = bar
    return table


@given(st.lists(bar_strategy, max_size=12))
def test_latest_revisions_leaves_what_sequential_upserts_leave(bars: list[BarClose]) -> None:
    kept = latest_revisions(bars)
    assert len({(b.symbol, b.bar_time) for b in kept}) == len(kept)  # one row per key
    assert {(b.symbol, b.bar_time): b for b in kept} == upsert_one_by_one(bars)


async def test_poller_stands_aside_while_steps_run() -> None:
    clock = ManualClock(T)
    app = PairsApp(PipelineConfig(interval="1d", universe=UniverseConfig(("X", "Y"))))
    store = FakePairsStore()
    await app.load(store)
    period = timedelta(seconds=1)
    assert not app.stepped_within(clock.now(), period)  # nothing ran yet: poll
    await app.step(store, [], lambda topic, env: None, producer="p", clock=clock)
    clock.advance(timedelta(milliseconds=400))
    assert app.stepped_within(clock.now(), period)
    clock.advance(timedelta(milliseconds=600))
    assert not app.stepped_within(clock.now(), period)  # idle for a period: poll again
