"""Publishing outbox rows with an idempotent producer (contract delivery rule 3).

After a batch commits, its rows are sent (acks=all, idempotence on), awaited, and then
marked as sent. At start-up and on a timer the relay sends rows left unsent by a crash or
an outage, oldest first, so each key's events reach the topic in the order they were made.

With several replicas of a service, a replica publishes only the rows it wrote: another
replica's rows may still be on their way, and sending them too would put a copy after a newer
event of the same key. Rows of a replica that left the group (crashed) are claimed at the
next rebalance, under one advisory lock per group, and published before any partition is
consumed again (`relay_orphans`): the first replica through publishes them all, the others
wait for it and find none.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.records import OutgoingRecord, partition_for_key
from shared.runtime.retry import retry_transient
from shared.runtime.store import RuntimeStore, UnsentRow
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

# Rows per relay round: large enough to drain a backlog quickly, small enough that one
# round's futures and bytes stay a few MB in memory.
RELAY_CHUNK = 5000
# Sent rows are kept this long (an audit of what was published), then purged.
KEEP_SENT_S = 3600.0
# Consumed event ids are remembered this long (TITAN_SEEN_EVENTS_KEEP_DAYS; 005 migration).
KEEP_SEEN_S = 7 * 86400.0


def make_producer(kafka: KafkaSettings, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **kafka.client_kwargs(),
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        # 0: a batch's records are handed to the producer together anyway, and while one
        # request is in flight the next records accumulate; a linger only adds latency
        # at every hop (bench/latency.py: ~5 ms per service).
        linger_ms=0,
        max_batch_size=1024 * 1024,
        # 30 s: a produce that cannot be acknowledged by then is treated as a transient
        # failure and retried; idempotence makes the retry safe.
        request_timeout_ms=30_000,
    )


class OutboxPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        pool: asyncpg.Pool,
        store: RuntimeStore,
        metrics: RuntimeMetrics,
        keep_seen_s: float = KEEP_SEEN_S,
    ) -> None:
        self.producer = producer
        self.keep_seen_s = keep_seen_s
        self.pool = pool
        self.store = store
        self.metrics = metrics
        # One relay at a time in this process (the loop's timer and a rebalance's takeover
        # would otherwise send the same rows twice).
        self._relaying = asyncio.Lock()
        # Batches committed here and not yet marked sent: the in-order publisher sends them,
        # never the relay. Both sending one batch at once interleaved its copies after its
        # newer events (a CI run: 6,000 bars, every one a copy after a newer bar).
        self._in_hand: set[int] = set()

    def hold(self, batch_no: int) -> None:
        """`batch_no` committed; `publish_batch` will send it (until then the relay may not)."""
        self._in_hand.add(batch_no)

    async def send(
        self, records: Sequence[OutgoingRecord], delivered: set[int] | None = None
    ) -> None:
        """Send `records` and wait for every acknowledgement; raise the first failure.

        `delivered` (kept by the caller across retries) collects the indexes acknowledged,
        and a retry sends only the others. Sending the whole batch again after a failure
        part-way (a broker killed mid-batch) would put copies of its acknowledged records
        after newer ones of the same key; with the idempotent producer a partition's
        failures are a suffix of what was sent to it, so the unacknowledged rest keeps
        each key's order."""
        done = delivered if delivered is not None else set()
        pending = [(i, r) for i, r in enumerate(records) if i not in done]
        if not pending:
            return
        futures: list[tuple[int, asyncio.Future[object]]] = []
        failure: BaseException | None = None
        try:
            for i, r in pending:
                partition = r.partition
                if partition is None and r.partition_key is not None:
                    partition = await self._partition_of(r.topic, r.partition_key)
                future = await self.producer.send(
                    r.topic,
                    value=r.value,
                    key=r.key.encode("utf-8") if r.key is not None else None,
                    headers=list(r.headers) or None,
                    partition=partition,
                )
                futures.append((i, future))
        except Exception as exc:  # the records handed over before it still count
            failure = exc
        results = await asyncio.gather(*(f for _, f in futures), return_exceptions=True)
        counts: dict[str, int] = {}
        for (i, _), result in zip(futures, results, strict=True):
            if isinstance(result, BaseException):
                failure = failure or result
                continue
            done.add(i)
            counts[records[i].topic] = counts.get(records[i].topic, 0) + 1
        for topic, n in counts.items():
            self.metrics.records_out(topic).inc(n)
        if failure is not None:
            raise failure

    async def _partition_of(self, topic: str, key: str) -> int:
        """The partition Kafka's default partitioner (murmur2) gives `key` in `topic`."""
        partitions = await self.producer.partitions_for(topic)
        if not partitions:
            raise ConnectionError(f"no partitions known for {topic}")
        return partition_for_key(key, len(partitions))

    async def publish_batch(self, batch_no: int, records: Sequence[OutgoingRecord]) -> None:
        """Send one committed batch's rows, then mark them sent; retried until it succeeds."""
        self._in_hand.add(batch_no)
        with self.metrics.publish_seconds.time():
            if records:
                delivered: set[int] = set()
                await retry_transient("publish outbox batch", lambda: self.send(records, delivered))
            await retry_transient("mark outbox sent", lambda: self._mark([batch_no]))
        self._in_hand.discard(batch_no)

    async def _mark(self, batch_nos: list[int]) -> None:
        async with self.pool.acquire() as conn:
            await self.store.mark_sent(conn, batch_nos)

    async def _mark_rows(self, rows: Sequence[UnsentRow]) -> None:
        async with self.pool.acquire() as conn:
            await self.store.mark_rows_sent(conn, rows)

    async def relay_orphans(self, live: list[str] | None) -> int:
        """Claim the unsent rows of replicas not in `live` (None: all rows not ours) and
        publish them, holding the group's advisory lock throughout (see the module doc)."""

        async def claim_and_relay() -> int:
            async with self.pool.acquire() as conn:
                await conn.execute("SELECT pg_advisory_lock(hashtext($1))", self.store.group_id)
                try:
                    claimed = await self.store.claim_orphans(conn, live)
                    if claimed:
                        log.info("claimed %d unsent outbox rows of departed replicas", claimed)
                    return await self.relay()
                finally:
                    await conn.execute(
                        "SELECT pg_advisory_unlock(hashtext($1))", self.store.group_id
                    )

        return await retry_transient("relay orphaned outbox rows", claim_and_relay)

    async def relay(self) -> int:
        """Publish this replica's unsent rows, oldest first. Returns how many were sent."""
        async with self._relaying:
            return await self._relay()

    async def _unsent(self) -> list[UnsentRow]:
        async with self.pool.acquire() as conn:
            return await self.store.unsent(conn, RELAY_CHUNK, sorted(self._in_hand))

    async def _housekeeping(self) -> None:
        async with self.pool.acquire() as conn:
            self.metrics.outbox_backlog.set(await self.store.backlog(conn))
            await self.store.purge_sent(conn, KEEP_SENT_S)
            await self.store.purge_seen(conn, self.keep_seen_s)

    async def _relay(self) -> int:
        total = 0
        while True:
            # A database outage is waited out here (a PostgreSQL restart killed signals).
            rows = await retry_transient("read unsent outbox rows", self._unsent)
            if not rows:
                break
            relayed: set[int] = set()
            chunk = [r.record for r in rows]
            await retry_transient("relay outbox", lambda: self.send(chunk, relayed))  # noqa: B023
            await retry_transient("mark relayed rows", lambda rs=rows: self._mark_rows(rs))  # type: ignore[misc]
            total += len(rows)
            if len(rows) < RELAY_CHUNK:
                break
        await retry_transient("outbox housekeeping", self._housekeeping)
        if total:
            log.info("relayed %d unsent outbox rows", total)
        return total
