"""Screens are computed before the step that writes their outcome, never inside it."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from core.cointegration import Autolag, PairScreenResult
from services.pairs.domain.pipeline import Effects, Pipeline
from services.pairs.domain.screening import in_process_screen, screen_key
from services.pairs.domain.universe import BarClose
from services.pairs.handlers import PairsApp
from services.pairs.precomputed import PrecomputedScreens, ScreensFirst
from shared.events import Envelope
from tests.unit.pairs_service.fake_store import FakePairsStore
from tests.unit.pairs_service.synthetic import interleave, planted_universe, streams
from tests.unit.pairs_service.test_handlers import CLOCK, CONFIG, Sink, tables


@pytest.fixture(scope="module")
def bars() -> list[BarClose]:
    symbols, prices = planted_universe(260, seed=11)
    return interleave(streams(symbols, prices, revisions=True), seed=3)


async def test_a_step_that_needs_a_screen_changes_nothing_before_it_is_computed(
    bars: list[BarClose],
) -> None:
    store, app = FakePairsStore(), PairsApp(CONFIG)
    await app.load(store)
    await store.lock_clock(CONFIG.interval)  # creates the clock row, as the step's first read
    before = tables(store)
    with pytest.raises(ScreensFirst) as raised:
        await app.step(store, bars, Sink(), producer="p", clock=CLOCK)
    # 260 bar times, window 100, every 15: screens at 100, 115, ..., 250
    assert len(raised.value.inputs) == 11
    assert tables(store) == before and app.pipeline.universe.n_complete == 0
    assert app.pipeline.steps == 0 and not app.screens.results
    await raised.value.compute()
    assert len(app.screens.results) == 11
    fx = await app.step(store, bars, Sink(), producer="p", clock=CLOCK)
    assert len(fx.screens) == 11 and app.screens.inline == 0
    # Kept within the budget: the transaction may roll back and the step run again.
    assert len(app.screens.results) == 11


async def test_steps_run_again_one_bar_at_a_time_reuse_the_screens_computed(
    bars: list[BarClose],
) -> None:
    """A batch rerun one record at a time (shared/runtime/quarantine.py) reruns the steps
    before the one that needed a screen: their screens must still be there, so every rerun
    computes at least one new screen and the batch ends."""
    app = PairsApp(CONFIG)
    reruns = 0
    while True:
        store = FakePairsStore()  # every rerun starts from the committed (empty) tables
        await app.load(store)
        try:
            for bar in bars:
                await app.step(store, [bar], Sink(), producer="p", clock=CLOCK)
            break
        except ScreensFirst as need:
            reruns += 1
            await need.compute()
            assert reruns <= 11, "a rerun recomputed a screen a step before it had taken"
    assert app.screens.computed == 11 and app.screens.inline == 0


def test_the_oldest_screens_go_past_the_budget() -> None:
    screens = PrecomputedScreens(in_process_screen, keep_pair_records=5)
    record: Any = object()
    for key, n in (("a", 3), ("b", 2), ("c", 4)):
        screens.results[key] = [record] * n
        screens.trim()
    assert list(screens.results) == ["c"]
    screens.results["d"] = [record] * 9  # the newest stays even over budget
    screens.trim()
    assert list(screens.results) == ["d"]


async def test_no_screen_runs_while_a_step_runs(bars: list[BarClose]) -> None:
    store, app, sink = FakePairsStore(), PairsApp(CONFIG), Sink()
    await app.load(store)
    stepping = False
    calls: list[bool] = []
    compute = app.screens.compute

    def spy(
        closes: np.ndarray, symbols: list[str], autolag: Autolag, maxlag: int | None
    ) -> list[PairScreenResult]:
        calls.append(stepping)
        return compute(closes, symbols, autolag, maxlag)

    app.screens.compute = spy
    for lo in range(0, len(bars), 97):
        while True:
            stepping = True
            try:
                await app.step(store, bars[lo : lo + 97], sink, producer="p", clock=CLOCK)
                break
            except ScreensFirst as need:
                stepping = False
                await need.compute()
            finally:
                stepping = False
    assert len(calls) == 11 and not any(calls)


async def test_the_step_gives_the_inline_pipeline_events(bars: list[BarClose]) -> None:
    """Screens computed first, then taken: the events of the domain pipeline screening
    inline (in_process_screen), field for field."""
    inline, expected = Pipeline(CONFIG, in_process_screen), []
    store, app = FakePairsStore(), PairsApp(CONFIG)
    await app.load(store)
    got: list[tuple[str, str, dict[str, Any]]] = []

    def emit(topic: str, env: Envelope[Any]) -> None:
        got.append((topic, str(env.event_id), env.payload.model_dump(mode="json")))

    for lo in range(0, len(bars), 97):
        chunk = bars[lo : lo + 97]
        fx = Effects()
        inline.on_bars(chunk, fx)
        expected += [
            (e.topic, str(e.event_id), e.payload.model_dump(mode="json")) for e in fx.events
        ]
        while True:
            try:
                await app.step(store, chunk, emit, producer="p", clock=CLOCK)
                break
            except ScreensFirst as need:
                await need.compute()
    assert any(topic.startswith("pairs.lifecycle") for topic, _, _ in got)
    assert got == expected


def test_the_plan_names_the_screens_the_pipeline_then_runs(bars: list[BarClose]) -> None:
    seen: list[str] = []

    def recording(
        closes: np.ndarray, symbols: list[str], autolag: Autolag, maxlag: int | None
    ) -> list[PairScreenResult]:
        seen.append(screen_key(closes, symbols, autolag, maxlag))
        return in_process_screen(closes, symbols, autolag, maxlag)

    pipe = Pipeline(CONFIG, recording)
    planned: list[str] = []
    in_time = sorted(bars, key=lambda b: (b.bar_time, b.symbol, b.revision))  # as released
    for lo in range(0, len(in_time), 131):
        chunk = in_time[lo : lo + 131]
        as_of = pipe.universe.times[-3:-2]  # an on-demand screen too, when there are times
        planned += [p.key for p in pipe.planned_screens(as_of, chunk, released=True)]
        for t in as_of:
            pipe.screen(t, uuid.uuid4(), Effects())
        pipe.on_released(chunk, Effects())
    assert len(seen) > 11 and planned == seen  # scheduled and on-demand screens
