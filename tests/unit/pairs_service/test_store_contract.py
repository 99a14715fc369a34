"""One contract suite for the pairs store: the in-memory fake and PostgreSQL.

The PostgreSQL case needs the real server of tests/fixtures_infra.py (marker integration).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from services.pairs.domain.lifecycle import LifecycleSettings
from services.pairs.domain.pipeline import Effects, PipelineConfig
from services.pairs.domain.screening import ScreenSettings
from services.pairs.domain.universe import BarClose, DeferredBar, UniverseConfig
from services.pairs.handlers import PairsApp
from services.pairs.store import PairsStore, PgPairsStore
from shared.clock import ManualClock
from shared.runtime.service import apply_migrations
from tests.unit.pairs_service.fake_store import FakePairsStore
from tests.unit.pairs_service.stepping import step_computing_first
from tests.unit.pairs_service.synthetic import bar_times, interleave, planted_universe, streams

MIGRATIONS = [("pairs", Path(__file__).resolve().parents[3] / "services/pairs/migrations")]
CONFIG = PipelineConfig(
    universe=UniverseConfig(("AAA", "BBB", "CCC", "DDD", "EEE", "FFF"), 1000, 3, 1001),
    screen=ScreenSettings(window=100, every=15),
    lifecycle=LifecycleSettings(confirm_screens=2, degrade_screens=2, retire_screens=3),
)
CLOCK = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
TABLES = (
    "bar_closes, pending_revisions, universe_clock, universe_times, pairs, pair_tests,"
    " kalman_state, spreads, screen_requests"
)


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.integration)])
def store_dsn(request: pytest.FixtureRequest) -> str | None:
    """None for the fake; the titan_pairs DSN of the real server otherwise."""
    if request.param == "fake":
        return None
    service_dsn: Callable[[str], str] = request.getfixturevalue("service_dsn")
    return service_dsn("pairs")


@pytest.fixture
async def store(store_dsn: str | None) -> AsyncIterator[PairsStore]:
    if store_dsn is None:
        yield FakePairsStore()
        return
    pool = await asyncpg.create_pool(
        store_dsn, min_size=1, max_size=1, server_settings={"search_path": "pairs"}
    )
    try:
        await apply_migrations(pool, "pairs", MIGRATIONS)
        async with pool.acquire() as conn:
            await conn.execute(f"TRUNCATE {TABLES}")
            tx = conn.transaction()
            await tx.start()
            try:
                yield PgPairsStore(conn)
            finally:
                await tx.rollback()  # each test starts from empty tables
    finally:
        await pool.close()


async def run_app(store: PairsStore, bars: list[BarClose]) -> list[str]:
    app = PairsApp(CONFIG)
    await app.load(store)
    ids: list[str] = []
    for lo in range(0, len(bars), 200):
        await step_computing_first(
            app, store, bars[lo : lo + 200], lambda t, e: ids.append(str(e.event_id)),
            producer="p", clock=CLOCK,
        )  # fmt: skip
    return ids


@pytest.fixture(scope="module")
def bars() -> list[BarClose]:
    symbols, prices = planted_universe(220, seed=5)
    return interleave(streams(symbols, prices, revisions=True), seed=1)


async def test_snapshot_restores_the_pipeline(store: PairsStore, bars: list[BarClose]) -> None:
    half = len(bars) // 2
    await run_app(store, bars[:half])
    before = PairsApp(CONFIG)
    await before.load(store)
    snap = await store.load_snapshot("1d", CONFIG.universe.keep_rows)
    assert snap.clock.n_complete == before.pipeline.universe.n_complete > 0
    assert snap.times == before.pipeline.universe.times
    # a restored app continues exactly like one that never stopped
    fresh = FakePairsStore()
    continuous = PairsApp(CONFIG)
    await continuous.load(fresh)
    out_a: list[str] = []
    out_b: list[str] = []
    for chunk in (bars[:half], bars[half:]):
        await step_computing_first(
            continuous, fresh, chunk, lambda t, e: out_a.append(str(e.event_id)),
            producer="p", clock=CLOCK,
        )  # fmt: skip
    await step_computing_first(
        before, store, bars[half:], lambda t, e: out_b.append(str(e.event_id)),
        producer="p", clock=CLOCK,
    )  # fmt: skip
    tail = out_a[len(out_a) - len(out_b) :]
    assert out_b and tail == out_b
    pairs = await store.list_pairs(None)
    assert [p.pair_id for p in pairs] == [p.pair_id for p in await fresh.list_pairs(None)]
    active = await store.list_pairs("active")
    assert {p.state for p in active} == {"active"} and active


async def test_tests_history_is_newest_first(store: PairsStore, bars: list[BarClose]) -> None:
    await run_app(store, bars)
    (pair, *_) = await store.list_pairs("active")
    tests = await store.pair_tests(pair.pair_id, 100)
    ends = [t["window_end"] for t in tests]
    assert len(tests) >= 2 and ends == sorted(ends, reverse=True)
    assert all(t["pair_id"] == pair.pair_id and isinstance(t["passed"], bool) for t in tests)
    assert await store.pair_tests("NOPE~NADA", 10) == []


async def test_closes_and_revision_guard(store: PairsStore) -> None:
    t = bar_times(3)
    fx = Effects(stored_bars=[BarClose("X", t[0], 10.0, 2), BarClose("Y", t[1], 5.0, 0)])
    await store.apply("1d", fx)
    # a lower revision never overwrites a higher one; a higher one does
    await store.apply("1d", Effects(stored_bars=[BarClose("X", t[0], 99.0, 1)]))
    await store.apply("1d", Effects(stored_bars=[BarClose("Y", t[1], 6.0, 1)]))
    got = await store.closes("1d", ["X", "Y", "Z"], t[0], t[2])
    assert got == {"X": [(t[0], 10.0)], "Y": [(t[1], 6.0)], "Z": []}
    assert await store.closes("1d", ["X"], t[1], t[2]) == {"X": []}
    assert await store.known_symbols("1d", ["X", "Z"]) == {"X"}
    assert await store.known_symbols("1h", ["X"]) == set()


async def test_screen_request_lifecycle(store: PairsStore) -> None:
    t = datetime(2024, 5, 1, tzinfo=UTC)
    rid = uuid.uuid4()
    req = await store.add_screen_request("1d", rid, t)
    assert req.as_of is None and req.status == "pending"
    await store.apply("1d", Effects(completed=[(1, t)], clock=(1, t, 1)))
    rid2 = uuid.uuid4()
    req2 = await store.add_screen_request("1d", rid2, t + timedelta(seconds=1))
    assert req2.as_of == t
    assert [r.request_id for r in await store.pending_requests("1d")] == [rid, rid2]
    await store.apply("1d", Effects(screens=[(rid2, t, "screened 2 symbols")]))
    done = await store.screen_request(rid2)
    assert done is not None and (done.status, done.outcome) == ("done", "screened 2 symbols")
    assert [r.request_id for r in await store.pending_requests("1d")] == [rid]
    assert await store.screen_request(uuid.uuid4()) is None
    clock = await store.lock_clock("1d")
    assert (clock.n_complete, clock.last_complete, clock.steps) == (1, t, 1)


async def test_a_bar_and_its_revision_in_one_step(store: PairsStore) -> None:
    """Closes, completed times and the clock are written together; a bar stored and its
    deferred revision applied in the same step leave the higher revision."""
    t = bar_times(2)
    late = DeferredBar(BarClose("X", t[0], 11.0, 1), t[0])
    await store.apply(
        "1d",
        Effects(
            stored_bars=[BarClose("X", t[0], 10.0, 0), BarClose("Y", t[0], 5.0, 0)],
            deferred_applied=[late],
            completed=[(1, t[0])],
            clock=(1, t[0], 1),
        ),
    )
    got = await store.closes("1d", ["X", "Y"], t[0], t[1])
    assert got == {"X": [(t[0], 11.0)], "Y": [(t[0], 5.0)]}
    snap = await store.load_snapshot("1d", 10)
    assert (snap.clock.n_complete, snap.clock.last_complete, snap.times) == (1, t[0], [t[0]])
    # an empty step leaves the clock alone
    await store.apply("1d", Effects())
    clock = await store.lock_clock("1d")
    assert (clock.n_complete, clock.last_complete, clock.steps) == (1, t[0], 1)
