"""SQL of the runtime tables: stored offsets (with fencing), the outbox and dead letters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.runtime.event_ids import Identified, Seen
from shared.runtime.records import ConsumedRecord, OutgoingRecord


class OffsetsFenced(RuntimeError):
    """Stored offsets moved under us: another consumer owns the partition now."""


@dataclass(frozen=True)
class UnsentRow:
    batch_no: int
    seq: int
    record: OutgoingRecord


class PartitionCountChanged(RuntimeError):
    """An input's partition count differs from the one the group first ran with."""


class RuntimeStore:
    def __init__(self, group_id: str, replica: str = "") -> None:
        self.group_id = group_id
        # This process incarnation: the outbox rows it writes are its own to publish.
        self.replica = replica

    async def load_offsets(
        self, conn: asyncpg.Connection, partitions: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        if not partitions:
            return {}
        rows = await conn.fetch(
            """
            SELECT o.topic, o.partition, o.next_offset
            FROM consumer_offsets o
            JOIN unnest($2::text[], $3::int[]) AS p(topic, partition)
              ON p.topic = o.topic AND p.partition = o.partition
            WHERE o.group_id = $1
            """,
            self.group_id,
            [t for t, _ in partitions],
            [p for _, p in partitions],
        )
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def store_offsets(
        self,
        conn: asyncpg.Connection,
        next_offsets: dict[tuple[str, int], int],
        expected: dict[tuple[str, int], int | None],
    ) -> None:
        """Upsert next offsets, only where the stored value is still the one we started from
        and the new one is ahead of it (stored offsets never move backwards).

        `expected[tp]` is None when no row existed at assignment; a row appearing meanwhile
        (a concurrent consumer) makes the insert conflict and fences us.
        """
        if not next_offsets:
            return
        tps = list(next_offsets)
        rows = await conn.fetch(
            """
            WITH input AS (
                SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[])
                    AS t(topic, partition, next_offset, expected)
            )
            INSERT INTO consumer_offsets AS o (group_id, topic, partition, next_offset)
            SELECT $1, topic, partition, next_offset FROM input
            ON CONFLICT (group_id, topic, partition) DO UPDATE
               SET next_offset = EXCLUDED.next_offset, updated_at = now()
             WHERE o.next_offset = (
                   SELECT i.expected FROM input i
                    WHERE i.topic = EXCLUDED.topic AND i.partition = EXCLUDED.partition)
               AND EXCLUDED.next_offset > o.next_offset
            RETURNING o.topic, o.partition
            """,
            self.group_id,
            [t for t, _ in tps],
            [p for _, p in tps],
            [next_offsets[tp] for tp in tps],
            [expected.get(tp) if expected.get(tp) is not None else -1 for tp in tps],
        )
        if len(rows) != len(tps):
            moved = set(tps) - {(r["topic"], r["partition"]) for r in rows}
            raise OffsetsFenced(f"stored offsets moved for {sorted(moved)}")

    async def next_batch_no(self, conn: asyncpg.Connection) -> int:
        value: int = await conn.fetchval("SELECT nextval('outbox_batch_seq')")
        return value

    async def write_outbox(
        self, conn: asyncpg.Connection, batch_no: int, records: Sequence[OutgoingRecord]
    ) -> None:
        if not records:
            return
        await conn.copy_records_to_table(
            "outbox",
            columns=[
                "batch_no",
                "seq",
                "event_id",
                "topic",
                "key",
                "value",
                "headers",
                "partition",
                "partition_key",
                "replica",
            ],
            records=[
                (
                    batch_no,
                    seq,
                    r.event_id,
                    r.topic,
                    r.key,
                    r.value,
                    _headers_json(r.headers),
                    r.partition,
                    r.partition_key,
                    self.replica,
                )
                for seq, r in enumerate(records)
            ],
        )

    async def record_dead_letters(
        self, conn: asyncpg.Connection, dead: Sequence[tuple[ConsumedRecord, str]]
    ) -> None:
        if not dead:
            return
        await conn.executemany(
            """INSERT INTO dead_letters (topic, partition, "offset", reason) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING""",
            [(r.topic, r.partition, r.offset, reason) for r, reason in dead],
        )

    async def seen_events(
        self, conn: asyncpg.Connection, event_ids: Sequence[str]
    ) -> dict[str, list[Seen]]:
        """Where each of `event_ids` was consumed before by this group, with its digest."""
        rows = await conn.fetch(
            """SELECT event_id::text AS event_id, topic, partition, digest FROM seen_events
               WHERE group_id = $1 AND event_id = ANY($2::uuid[])""",
            self.group_id,
            list(set(event_ids)),
        )
        seen: dict[str, list[Seen]] = {}
        for r in rows:
            seen.setdefault(r["event_id"], []).append(
                Seen(r["topic"], r["partition"], bytes(r["digest"]))
            )
        return seen

    async def remember_events(self, conn: asyncpg.Connection, fresh: Sequence[Identified]) -> None:
        if not fresh:
            return
        await conn.execute(
            """INSERT INTO seen_events (group_id, event_id, topic, partition, digest)
               SELECT $1, * FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bytea[])
               ON CONFLICT DO NOTHING""",
            self.group_id,
            [f.event_id for f in fresh],
            [f.record.topic for f in fresh],
            [f.record.partition for f in fresh],
            [f.digest for f in fresh],
        )

    async def mark_sent(self, conn: asyncpg.Connection, batch_nos: Sequence[int]) -> None:
        await conn.execute(
            "UPDATE outbox SET sent_at = now()"
            " WHERE batch_no = ANY($1::bigint[]) AND sent_at IS NULL",
            list(batch_nos),
        )

    async def mark_rows_sent(self, conn: asyncpg.Connection, rows: Sequence[UnsentRow]) -> None:
        await conn.execute(
            """UPDATE outbox o SET sent_at = now()
               FROM unnest($1::bigint[], $2::int[]) AS r(batch_no, seq)
               WHERE o.batch_no = r.batch_no AND o.seq = r.seq AND o.sent_at IS NULL""",
            [r.batch_no for r in rows],
            [r.seq for r in rows],
        )

    async def unsent(
        self, conn: asyncpg.Connection, limit: int, in_hand: Sequence[int] = ()
    ) -> list[UnsentRow]:
        """This replica's unsent rows, oldest first, except those of the batches `in_hand`
        (committed by this process and queued for its in-order publisher)."""
        rows = await conn.fetch(
            """SELECT batch_no, seq, event_id, topic, key, value, headers, partition,
                      partition_key
               FROM outbox WHERE sent_at IS NULL AND replica IS NOT DISTINCT FROM $2
                 AND NOT batch_no = ANY($3::bigint[])
               ORDER BY batch_no, seq LIMIT $1""",
            limit,
            self.replica,
            list(in_hand),
        )
        return [
            UnsentRow(
                r["batch_no"],
                r["seq"],
                OutgoingRecord(
                    topic=r["topic"],
                    key=r["key"],
                    value=bytes(r["value"]),
                    event_id=r["event_id"],
                    headers=_headers_from_json(r["headers"]),
                    partition=r["partition"],
                    partition_key=r["partition_key"],
                ),
            )
            for r in rows
        ]

    async def claim_orphans(self, conn: asyncpg.Connection, live: Sequence[str] | None) -> int:
        """Take over the unsent rows of replicas that are not live (None: every other row, for
        a service with no consumer group to say who is live)."""
        status: str = await conn.execute(
            """UPDATE outbox SET replica = $1
               WHERE sent_at IS NULL AND replica IS DISTINCT FROM $1
                 AND ($2::text[] IS NULL OR replica IS NULL OR NOT replica = ANY($2::text[]))""",
            self.replica,
            None if live is None else list(live),
        )
        return int(status.split()[-1])

    async def check_partition_counts(
        self, conn: asyncpg.Connection, counts: dict[str, int]
    ) -> None:
        """Record the inputs' partition counts at first run; refuse a changed one."""
        await conn.executemany(
            """INSERT INTO input_partitions (group_id, topic, partitions) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING""",
            [(self.group_id, t, n) for t, n in sorted(counts.items())],
        )
        rows = await conn.fetch(
            "SELECT topic, partitions FROM input_partitions WHERE group_id = $1", self.group_id
        )
        changed = [
            f"{r['topic']} had {r['partitions']}, now {counts[r['topic']]}"
            for r in rows
            if r["topic"] in counts and counts[r["topic"]] != r["partitions"]
        ]
        if changed:
            raise PartitionCountChanged(
                f"partition counts changed for group {self.group_id}: {'; '.join(changed)}. "
                "Keys would move to other partitions and per-partition state would no longer "
                "match its records: run on new topics (a new TITAN_TOPIC_PREFIX) and replay "
                "instead of adding partitions (docs/scaling.md)"
            )

    async def backlog(self, conn: asyncpg.Connection) -> int:
        value: int = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        return value

    async def purge_seen(self, conn: asyncpg.Connection, older_than_s: float) -> int:
        """Forget the event ids this group first consumed more than `older_than_s` ago."""
        status: str = await conn.execute(
            "DELETE FROM seen_events"
            " WHERE group_id = $1 AND seen_at < now() - make_interval(secs => $2)",
            self.group_id,
            older_than_s,
        )
        return int(status.split()[-1])

    async def purge_sent(self, conn: asyncpg.Connection, older_than_s: float) -> int:
        status: str = await conn.execute(
            "DELETE FROM outbox"
            " WHERE sent_at IS NOT NULL AND sent_at < now() - make_interval(secs => $1)",
            older_than_s,
        )
        return int(status.split()[-1])


def _headers_json(headers: tuple[tuple[str, bytes], ...]) -> str:
    return json.dumps([[k, v.decode("utf-8", "replace")] for k, v in headers])


def _headers_from_json(raw: str | list[list[str]]) -> tuple[tuple[str, bytes], ...]:
    data = json.loads(raw) if isinstance(raw, str) else raw
    return tuple((str(k), str(v).encode("utf-8")) for k, v in data)
