"""TITAN_PAIRS_SCREEN_WORKERS: screens sharded over worker processes change nothing written."""

from __future__ import annotations

import numpy as np
import pytest

from services.pairs.domain.screening import ScreenSettings, in_process_screen, screen_matrix
from services.pairs.handlers import PairsApp
from services.pairs.screen_pool import ScreenPool
from services.pairs.settings import PairsSettings
from shared.runtime.process_pool import workers_for
from tests.unit.pairs.synthetic import random_universe
from tests.unit.pairs_service.fake_store import FakePairsStore
from tests.unit.pairs_service.synthetic import interleave, planted_universe, streams
from tests.unit.pairs_service.test_handlers import CONFIG, Sink, step, tables


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://u:p@h/db")
    assert PairsSettings().pairs_screen_workers == 0
    monkeypatch.setenv("TITAN_PAIRS_SCREEN_WORKERS", "3")
    assert PairsSettings().pairs_screen_workers == 3
    assert workers_for(0) == 0 and workers_for(3) == 3 and workers_for(-1) >= 1


def test_a_pooled_screen_matrix_is_the_in_process_one() -> None:
    closes = random_universe(9, n_bars=140, n_symbols=150)
    closes[:60, 5] = np.nan  # excluded: no full window
    symbols = [f"X{(k * 37) % 150:03d}" for k in range(150)]  # not in sorted order
    settings = ScreenSettings(window=140)
    pool = ScreenPool(2)
    try:
        pooled = screen_matrix(closes, symbols, settings, pool)
    finally:
        pool.close()
    inline = screen_matrix(closes, symbols, settings, in_process_screen)
    assert pooled.symbols == inline.symbols and pooled.excluded == inline.excluded
    assert pooled.results == inline.results  # no NaN fields in this universe


async def test_a_screen_pool_gives_the_in_process_tables_and_events() -> None:
    symbols, prices = planted_universe(260, seed=11)
    bars = interleave(streams(symbols, prices, revisions=True), seed=3)
    runs = []
    for workers in (0, 2):
        store, sink = FakePairsStore(), Sink()
        app = PairsApp(CONFIG, screen_workers=workers)
        try:
            await app.load(store)
            for lo in range(0, len(bars), 97):
                await step(app, store, bars[lo : lo + 97], sink)
        finally:
            app.close()
        assert store.tests, "the run must screen"
        runs.append((sink.events, tables(store)))
    assert runs[1] == runs[0]
