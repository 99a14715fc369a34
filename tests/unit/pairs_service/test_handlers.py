"""PairsApp on the fake store: restarts and rolled-back steps leave no trace in the output."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.pairs.domain.lifecycle import LifecycleSettings
from services.pairs.domain.pipeline import PipelineConfig
from services.pairs.domain.screening import ScreenSettings
from services.pairs.domain.universe import BarClose, UniverseConfig
from services.pairs.handlers import PairsApp
from shared.clock import ManualClock
from shared.events import Envelope
from tests.unit.pairs_service.fake_store import FakePairsStore
from tests.unit.pairs_service.stepping import step_computing_first
from tests.unit.pairs_service.synthetic import interleave, planted_universe, streams

CONFIG = PipelineConfig(
    universe=UniverseConfig(
        symbols=("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"),
        stale_after=1000,
        max_ffill=3,
        keep_rows=1001,
    ),
    screen=ScreenSettings(window=100, every=15),
    lifecycle=LifecycleSettings(confirm_screens=2, degrade_screens=2, retire_screens=3),
)
CLOCK = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))


class Sink:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}

    def __call__(self, topic: str, env: Envelope[Any]) -> None:
        ident = env.content_identity()
        previous = self.events.setdefault(str(env.event_id), ident)
        assert previous == ident, "a re-emitted event must be an exact copy"


async def step(app: PairsApp, store: FakePairsStore, bars: list[BarClose], sink: Sink) -> None:
    await step_computing_first(app, store, bars, sink, producer="titan-pairs", clock=CLOCK)


@pytest.fixture(scope="module")
def bars() -> list[BarClose]:
    symbols, prices = planted_universe(260, seed=11)
    return interleave(streams(symbols, prices, revisions=True), seed=3)


def tables(store: FakePairsStore) -> dict[str, Any]:
    return {
        "bars": store.bars,
        "deferred": store.deferred,
        "times": store.times,
        "pairs": store.pairs,
        "tests": store.tests,
        "trackers": store.trackers,
        "spreads": store.spreads,
        "clock": {k: (c.n_complete, c.last_complete) for k, c in store.clock.items()},
    }


async def test_restarts_and_rollbacks_give_the_clean_run(bars: list[BarClose]) -> None:
    clean_store, clean_sink = FakePairsStore(), Sink()
    clean = PairsApp(CONFIG)
    await clean.load(clean_store)
    for lo in range(0, len(bars), 97):
        await step(clean, clean_store, bars[lo : lo + 97], clean_sink)
    assert any(e["event_type"] == "SpreadUpdated" for e in clean_sink.events.values())

    store, sink = FakePairsStore(), Sink()
    app = PairsApp(CONFIG)
    await app.load(store)
    lo, k = 0, 0
    while lo < len(bars):
        size = 13 + (k * 37) % 150  # other batch boundaries
        chunk = bars[lo : lo + size]
        if k % 3 == 1:
            # the transaction fails after the step ran in memory: its writes are lost
            doomed = store.copy()
            await step(app, doomed, chunk, sink)
        if k % 4 == 2:
            app = PairsApp(CONFIG)  # SIGKILL: memory gone, restart loads the tables
            await app.load(store)
        await step(app, store, chunk, sink)
        lo += size
        k += 1
    assert sink.events == clean_sink.events
    assert tables(store) == tables(clean_store)


async def test_screen_request_runs_as_of_the_recorded_bar_time(bars: list[BarClose]) -> None:
    store, sink = FakePairsStore(), Sink()
    app = PairsApp(CONFIG)
    await app.load(store)
    await step(app, store, bars[:1300], sink)
    early = await store.add_screen_request("1d", uuid.uuid4(), CLOCK.now())
    assert early.as_of is not None
    await step(app, store, bars[1300:], sink)  # the request is handled before these bars
    done = await store.screen_request(early.request_id)
    assert done is not None and done.status == "done"
    assert done.as_of == early.as_of and (done.outcome or "").startswith("screened 6 symbols")
    ids = {str(i) for i in _ids_for(store, early.request_id)}
    from_request = [e for e in sink.events.values() if e["event_id"] in ids]
    assert from_request, "the planted pairs are tracked, so the request reports them"
    assert {datetime.fromisoformat(e["occurred_at"]) for e in from_request} == {early.as_of}
    assert {e["payload"]["window_end"] for e in from_request} == {
        early.as_of.isoformat().replace("+00:00", "Z")
    }


def _ids_for(store: FakePairsStore, request_id: uuid.UUID) -> list[uuid.UUID]:
    from shared.events import derive_id

    return [derive_id("pair-tested", pid, sid) for (pid, sid) in store.tests if sid == request_id]
