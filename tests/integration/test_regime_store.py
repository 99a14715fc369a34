"""One contract suite for the regime store port: the in-memory fake and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.regime.bootstrap import definition
from services.regime.store import (
    CloseRow,
    FitRow,
    PostgresRegimeStore,
    ProbabilityRow,
    RegimeStore,
    ShiftRow,
    TrackerRow,
)
from shared.runtime.service import apply_migrations
from tests.unit.regime_service.builders import day
from tests.unit.regime_service.fake_store import InMemoryRegimeStore

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(params=["fake", "postgres"], loop_scope="session")
async def store_conn(
    request: pytest.FixtureRequest, fresh_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[tuple[RegimeStore, Any]]:
    if request.param == "fake":
        yield InMemoryRegimeStore(), None
        return
    dsn = await fresh_database("regime")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1,
                                     server_settings={"search_path": "regime"})  # fmt: skip
    assert pool is not None
    await apply_migrations(pool, "regime", definition().migrations)
    async with pool.acquire() as conn:
        yield PostgresRegimeStore(), conn
    await pool.close()


def _tracker(scope: str, i: int) -> TrackerRow:
    return TrackerRow(scope, "market", day(i), 1, "high_vol", 1, (0.1, 0.9), "v1",
                      {"observations": i, "x": [1e-20, 0.30000000000000004]})  # fmt: skip


async def test_round_trip_of_state_and_queries(store_conn: tuple[RegimeStore, Any]) -> None:
    store, conn = store_conn
    await store.save_clock(conn, {"completed": None, "pending": [[day(1).isoformat(), {}]]})
    await store.save_observations(conn, [("market", day(i), 0.1 * i) for i in range(5)])
    await store.save_observations(conn, [("market", day(4), 0.4)])  # replay: same row
    await store.save_trackers(conn, [_tracker("market", 4)])
    await store.save_trackers(conn, [_tracker("market", 5)])
    loaded = await store.load(conn, window_bars=3)
    assert loaded.clock == {"completed": None, "pending": [[day(1).isoformat(), {}]]}
    assert loaded.windows["market"] == [(day(i), 0.1 * i if i != 4 else 0.4) for i in (2, 3, 4)]
    (row,) = loaded.trackers
    assert row == _tracker("market", 5)
    assert await store.has_scope(conn, "market") and not await store.has_scope(conn, "A~B")
    assert await store.current(conn) == [_tracker("market", 5)]

    probs = [ProbabilityRow("market", day(i), (0.25, 0.75), 1, None, "v1") for i in range(5)]
    await store.save_probabilities(conn, probs)
    assert await store.history(conn, "market", day(1), day(4), 2) == probs[1:3]
    assert await store.history(conn, "market", None, None, 100) == probs

    fits = [FitRow("market", f"v{i}", day(i), {"params": {"a": 1.0}}, day(0), day(i), 3, -1.5)
            for i in (1, 2)]  # fmt: skip
    await store.save_fits(conn, fits + fits)
    assert await store.last_fit(conn, "market") == fits[1]
    assert await store.last_fit(conn, "A~B") is None

    shift = ShiftRow("market", day(3), uuid.uuid4(), 0, 1, "low_vol", "high_vol", 0.9,
                     "markov_regression", "v1")  # fmt: skip
    await store.save_shifts(conn, [shift, shift])
    assert await store.shifts(conn) == [shift] == await store.shifts(conn, "market")

    await store.save_closes(conn, [CloseRow("SPX", day(1), 10.0, 1)])
    await store.save_closes(conn, [CloseRow("SPX", day(1), 9.0, 0)])  # older revision loses
