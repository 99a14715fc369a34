"""The runtime's tables on a real PostgreSQL: fenced offsets and the outbox's order.

Fencing is what keeps two consumers of one partition (a zombie after a rebalance, a second
copy started by mistake) from both committing effects: a batch commits only if the stored
offset is still the one its consumer started from.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest

from shared.runtime.event_ids import Identified
from shared.runtime.records import ConsumedRecord, OutgoingRecord
from shared.runtime.service import apply_migrations, create_pool
from shared.runtime.store import OffsetsFenced, PartitionCountChanged, RuntimeStore

pytestmark = pytest.mark.integration
TP = ("demo.market.ticks.v1", 0)


@contextlib.asynccontextmanager
async def _runtime_tables(
    fresh_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[tuple[asyncpg.Connection, RuntimeStore]]:
    """A connection to a fresh database with the runtime's tables, and market_data's store."""
    pool = await create_pool(await fresh_database("market_data"), "market_data", max_size=2)
    try:
        await apply_migrations(pool, "market_data", [])
        async with pool.acquire() as conn:
            yield conn, RuntimeStore("titan-market_data")
    finally:
        await pool.close()


async def test_a_stale_consumer_is_fenced_and_changes_nothing(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    async with _runtime_tables(fresh_database) as (conn, store):
        # First consumer: nothing stored at assignment (expected None), commits 10.
        async with conn.transaction():
            await store.store_offsets(conn, {TP: 10}, {TP: None})
        # A second consumer that also saw nothing stored must not insert over it.
        with pytest.raises(OffsetsFenced):
            async with conn.transaction():
                await store.store_offsets(conn, {TP: 7}, {TP: None})
        # The owner moves on from 10; a zombie still believing 5 is fenced.
        async with conn.transaction():
            await store.store_offsets(conn, {TP: 20}, {TP: 10})
        with pytest.raises(OffsetsFenced):
            async with conn.transaction():
                await store.store_offsets(conn, {TP: 30}, {TP: 5})
        assert await store.load_offsets(conn, [TP]) == {TP: 20}


async def test_stored_offsets_never_move_backwards(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    """A batch of records from before the stored offset (a stale fetch) whose consumer
    still expects the right stored value is fenced, not stored."""
    async with _runtime_tables(fresh_database) as (conn, store):
        async with conn.transaction():
            await store.store_offsets(conn, {TP: 90}, {TP: None})
        for stale in (30, 90):
            with pytest.raises(OffsetsFenced):
                async with conn.transaction():
                    await store.store_offsets(conn, {TP: stale}, {TP: 90})
        assert await store.load_offsets(conn, [TP]) == {TP: 90}


async def test_fenced_batch_rolls_back_its_outbox_rows_and_unsent_rows_come_in_batch_order(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    def record(n: int) -> OutgoingRecord:
        return OutgoingRecord(
            topic="demo.market.bars.v1", key="KO", value=f"bar {n}".encode(),
            event_id=str(uuid.uuid4()), headers=(("h", b"v"),),
        )  # fmt: skip

    async with _runtime_tables(fresh_database) as (conn, store):
        first = await store.next_batch_no(conn)
        second = await store.next_batch_no(conn)
        assert second > first
        # Written out of order on purpose: the relay must still send `first` first.
        async with conn.transaction():
            await store.write_outbox(conn, second, [record(3)])
            await store.store_offsets(conn, {TP: 2}, {TP: None})
        async with conn.transaction():
            await store.write_outbox(conn, first, [record(1), record(2)])
            await store.store_offsets(conn, {TP: 4}, {TP: 2})
        with pytest.raises(OffsetsFenced):
            async with conn.transaction():
                await store.write_outbox(conn, second + 1, [record(99)])
                await store.store_offsets(conn, {TP: 9}, {TP: 2})
        unsent = await store.unsent(conn, 100)
        assert [(r.batch_no, r.record.value) for r in unsent] == [
            (first, b"bar 1"), (first, b"bar 2"), (second, b"bar 3"),
        ]  # fmt: skip
        assert unsent[0].record.headers == (("h", b"v"),)
        # A batch this process holds for its in-order publisher is not the relay's to send.
        assert [r.batch_no for r in await store.unsent(conn, 100, [first])] == [second]
        await store.mark_sent(conn, [first])
        assert [r.batch_no for r in await store.unsent(conn, 100)] == [second]
        assert await store.backlog(conn) == 1


def _row(topic: str, key: str, n: int) -> OutgoingRecord:
    return OutgoingRecord(topic, key, f"v{n}".encode(), event_id=f"e{n}")


async def test_a_replica_relays_its_own_rows_and_claims_only_departed_replicas_rows(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    async with _runtime_tables(fresh_database) as (conn, _store):
        group = "titan-signals"
        alive, departed, me = (RuntimeStore(group, r) for r in ("alive", "departed", "me"))
        for n, store in enumerate((departed, alive, me)):
            await store.write_outbox(conn, await store.next_batch_no(conn), [_row("s", "KO", n)])
        # Each replica sees only its own unsent rows: another's may still be on their way.
        assert [r.record.event_id for r in await me.unsent(conn, 10)] == ["e2"]
        assert [r.record.event_id for r in await alive.unsent(conn, 10)] == ["e1"]
        # A rebalance says who is live: the rows of a replica that is not are claimed.
        assert await me.claim_orphans(conn, ["alive", "me"]) == 1
        assert [r.record.event_id for r in await me.unsent(conn, 10)] == ["e0", "e2"]
        assert [r.record.event_id for r in await alive.unsent(conn, 10)] == ["e1"]


async def test_partition_counts_are_recorded_and_a_changed_count_is_refused(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    async with _runtime_tables(fresh_database) as (conn, store):
        await store.check_partition_counts(conn, {"ticks": 3, "bars": 3})
        await store.check_partition_counts(conn, {"ticks": 3, "bars": 3})  # unchanged: fine
        with pytest.raises(PartitionCountChanged, match="ticks had 3, now 6"):
            await store.check_partition_counts(conn, {"ticks": 6, "bars": 3})


async def test_event_ids_older_than_the_horizon_are_forgotten(
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    async with _runtime_tables(fresh_database) as (conn, store):
        other = RuntimeStore("titan-pairs")
        ids = [str(uuid.uuid4()) for _ in range(3)]
        for s, event_id in ((store, ids[0]), (store, ids[1]), (other, ids[2])):
            record = ConsumedRecord("demo.market.bars.v1", 0, 0, None, b"{}")
            await s.remember_events(conn, [Identified(record, event_id, b"digest")])
        # The first id and the other group's were consumed 8 days ago.
        await conn.execute(
            "UPDATE seen_events SET seen_at = now() - interval '8 days'"
            " WHERE event_id = ANY($1::uuid[])",
            [ids[0], ids[2]],
        )
        assert await store.purge_seen(conn, 7 * 86400.0) == 1
        assert set(await store.seen_events(conn, ids)) == {ids[1]}
        assert set(await other.seen_events(conn, ids)) == {ids[2]}  # another group's horizon
