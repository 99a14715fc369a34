"""The batch consumer loop: offsets live in the service's database (contract rules 1, 2, 5).

Kafka's committed offsets are informative only: on assignment the consumer seeks to the
offsets stored in its own tables (earliest where none), and after each batch commits in
PostgreSQL it also commits to Kafka so that lag tools show something sensible.

Pipelining, without giving up any rule: while batch N's transaction runs (the loop is free
whenever it awaits PostgreSQL), the loop fetches and decodes batch N+1; N+1's transaction
starts only after N's has committed, so batches still apply in partition order, one
transaction each. If anything re-seeks in between (fencing, a rebalance), the batch fetched
meanwhile is dropped and the consumer seeks to the stored offsets again. Committed batches
are published by one background task, strictly in batch order: a batch's rows are all sent
and acknowledged, then marked sent, before the next batch's rows are sent, so each key's
events keep their order even when a send has to be retried.

A fetch that returns buffered records does not yield to the event loop, so a batch's
transaction would otherwise first run only once the next batch has been fetched and decoded,
and its server work (a COPY of 10k ticks takes PostgreSQL ~20 ms) would then leave this core
idle. A route may declare `overlaps_next_batch`: after starting such a batch, the loop lets
it run until its handler calls `ctx.overlap_next_batch()` (its big write is on the wire) and
only then fetches and decodes the next batch, while the server works. Order of effects is
unchanged: the next batch's transaction still starts after this one has committed. Decodes
the next batch handed to another process (PendingDecode) are collected while this one waits
for the database, and told when the batch is needed (`needed()`, the split's balance).

The next batch's transaction is opened ahead (a pooled connection, BEGIN, the batch number
from the outbox sequence) as soon as the previous batch has committed, while the loop waits
for records: those two round trips then cost nothing on the path from a record's arrival to
the events it causes. The open transaction has read nothing (nextval is not transactional),
so nothing in it can be stale when the batch arrives, however long that takes. It is rolled
back on stop; if it broke meanwhile, the batch fails, and its retry opens a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from shared.runtime.assignment import TitanAssignor
from shared.runtime.batch import BatchOutcome, BatchProcessor, PreparedBatch
from shared.runtime.compute_first import ComputeFirst
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outbox import OutboxPublisher
from shared.runtime.quarantine import HandlerFailed, Isolation
from shared.runtime.records import ConsumedRecord, FetchedRecords
from shared.runtime.retry import retry_transient
from shared.runtime.store import OffsetsFenced, RuntimeStore
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

# Kafka's committed offsets are informative only (rule 2): committing them at most once a
# second keeps a group-coordinator round trip off every batch; stop commits the rest.
KAFKA_COMMIT_INTERVAL_S = 1.0
# Committed batches waiting for publication: enough to keep the producer busy while the next
# transactions run, few enough that a broker outage stops consumption within a few batches.
MAX_UNPUBLISHED_BATCHES = 4


def make_consumer(
    kafka: KafkaSettings,
    group_id: str,
    client_id: str,
    max_records: int,
    assignor: type[TitanAssignor] | None = None,
) -> AIOKafkaConsumer:
    strategy = {"partition_assignment_strategy": (assignor,)} if assignor is not None else {}
    return AIOKafkaConsumer(
        **kafka.client_kwargs(),
        **strategy,
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=max_records,
        # 8 MB per partition fetch: a batch of thousands of small JSON events in one request.
        max_partition_fetch_bytes=8 * 1024 * 1024,
        # 50 ms, not 500: while one partition's batch is being processed, aiokafka fetches
        # the node's other partitions without it, and a record arriving there would wait
        # the whole fetch wait; it set the tick-to-signal p99 (bench/latency.py).
        fetch_max_wait_ms=50,
        fetch_max_bytes=32 * 1024 * 1024,
        # 5 min: a batch that waits out a database outage with backoff must not get the
        # consumer kicked out of its group in the meantime.
        max_poll_interval_ms=300_000,
        # 45 s session / 3 s heartbeat by default (Kafka's): survivable GC or event-loop
        # stalls. A heartbeat at most a third of the session lets two be lost in a row.
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=min(3_000, kafka.session_timeout_ms // 3),
    )


@dataclass
class _OpenTransaction:
    """A transaction begun ahead of its batch, with the batch number already taken."""

    conn: Any  # a pooled connection, held until the batch commits or fails
    transaction: Any
    batch_no: int


def fetch_behind_stored(
    fetched: dict[TopicPartition, list[Any]], stored: dict[tuple[str, int], int | None]
) -> tuple[TopicPartition, int, int] | None:
    """A partition whose fetched records start below its stored next offset (records already
    applied), with both offsets; None if there is none. Seeks are generation-checked, so
    this should never happen; if it does (a client bug, a position reset we did not see),
    the batch is dropped rather than applied twice, and its smaller next offset never
    reaches the table. Starting above is fine: compaction and transaction markers leave gaps.
    """
    for tp, messages in fetched.items():
        next_offset = stored.get((tp.topic, tp.partition))
        if messages and next_offset is not None and messages[0].offset < next_offset:
            return tp, messages[0].offset, next_offset
    return None


async def _until_overlapped(batch: asyncio.Task[None], overlap: asyncio.Event) -> None:
    """Let a batch just started run until its handler has its big write on the wire (or
    the batch has ended), so that the next fetch and decode overlap the server's work."""
    signalled = asyncio.ensure_future(overlap.wait())
    try:
        await asyncio.wait([batch, signalled], return_when=asyncio.FIRST_COMPLETED)
    finally:
        signalled.cancel()


async def _settling_during(prepared: PreparedBatch | None, batch: asyncio.Task[None]) -> None:
    """Await the batch in flight while the next one's decodes handed to another process are
    collected: what the decoder does with them (the market_data COPY payload) then runs in
    the gaps while the batch in flight waits for the database, not after it."""
    if prepared is None or not prepared.pending:
        await batch
        return
    settling = asyncio.ensure_future(prepared.settle(ahead=True))
    try:
        await batch
    except BaseException:
        settling.cancel()
        with contextlib.suppress(BaseException):
            await settling
        raise
    prepared.needed()
    await settling


class _SeekToStoredOffsets(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka rebalances eagerly: every partition is revoked, then the new assignment is
    given. The group waits for each member's revocation before it assigns anything, so a
    replica hands over partitions only once its batches are committed and published; the
    next owner then publishes what departed replicas left unsent, seeks to the stored
    offsets and reloads the state of what it now owns, before it fetches anything."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        self.loop.generation += 1  # what was fetched before belongs to the old assignment
        try:
            await self.loop.hand_over()
        except Exception as exc:
            self.loop.listener_error = exc
            raise
        for tp in revoked:
            self.loop.expected.pop((tp.topic, tp.partition), None)

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        # aiokafka logs and swallows a listener's exception and then consumes from its own
        # positions: keep the failure and let the loop raise it instead (never a wrong seek).
        try:
            await self.loop.take_over(list(assigned))
        except Exception as exc:
            self.loop.listener_error = exc
            raise
        self.loop.assigned.set()


class ConsumerLoop:
    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        processor: BatchProcessor,
        publisher: OutboxPublisher,
        pool: asyncpg.Pool,
        store: RuntimeStore,
        metrics: RuntimeMetrics,
        *,
        batch_timeout_ms: int,
        batch_max_records: int,
        relay_interval_s: float,
        reload_state: Callable[[], Awaitable[None]] | None = None,
        fault_batch_delay_ms: int = 0,
        assignor: type[TitanAssignor] | None = None,
    ) -> None:
        self.consumer = consumer
        self.processor = processor
        self.publisher = publisher
        self.pool = pool
        self.store = store
        self.metrics = metrics
        self.batch_timeout_ms = batch_timeout_ms
        self.batch_max_records = batch_max_records
        self.relay_interval_s = relay_interval_s
        # A failed attempt may have mutated the service's in-memory state before its
        # transaction rolled back: reload it from the tables before the batch is retried.
        self.reload_state = reload_state
        self.fault_batch_delay_ms = fault_batch_delay_ms
        self._fault_rng = random.Random()
        self.expected: dict[tuple[str, int], int | None] = {}
        self.assigned = asyncio.Event()
        self.stopping = asyncio.Event()
        self.batches = 0
        # Bumped at every seek: a batch fetched under an older generation may be stale.
        self.generation = 0
        self.listener_error: Exception | None = None
        self._unpublished: asyncio.Queue[BatchOutcome] = asyncio.Queue(MAX_UNPUBLISHED_BATCHES)
        self._publishing: asyncio.Task[None] | None = None
        self._opening: asyncio.Task[_OpenTransaction] | None = None
        self._uncommitted: dict[tuple[str, int], int] = {}
        # Batches started and not yet finished (a revocation waits for them).
        self._running: set[asyncio.Task[None]] = set()
        self.assignor = assignor
        # While a new assignment's state loads, fetched batches are dropped, not run.
        self.taking_over = False
        self._last_kafka_commit = 0.0
        # The input watermark is the minimum over the partitions this consumer holds.
        processor.event_time.owned = lambda: [
            (tp.topic, tp.partition) for tp in consumer.assignment()
        ]

    def subscribe(self) -> None:
        self.consumer.subscribe(
            topics=self.processor.real_topics, listener=_SeekToStoredOffsets(self)
        )

    async def _finish_running(self) -> None:
        # A batch that fails here failed its own retries too: the loop raises it.
        for task in list(self._running):
            with contextlib.suppress(BaseException):
                await task

    async def hand_over(self) -> None:
        """Before partitions move: the batches in flight commit and everything committed is
        published."""
        await self._finish_running()
        await self._drain_publication()

    async def take_over(self, partitions: list[TopicPartition]) -> None:
        """A new assignment. Order: no batch runs (anything fetched so far is dropped); the
        departed replicas' unsent rows are published (their keys' older events must come
        before ours); state is loaded for what we own now (even a first assignment may
        follow another replica's batches); only then the seek lets batches run again."""
        self.taking_over = True
        try:
            # A batch may have run between the revocation's drain and now (aiokafka hands out
            # buffered records once the assignment is set, before this callback): publish
            # it before the relay looks for unsent rows.
            await self._finish_running()
            await self._drain_publication()
            live = self.assignor.live if self.assignor is not None else None
            if live is not None:
                await self.publisher.relay_orphans(live)
            if self.reload_state is not None:
                await retry_transient("reload service state", self.reload_state)
            await retry_transient("reload event-time state", self._reload_event_time)
            await self.seek_to_stored(partitions)
        finally:
            self.taking_over = False

    async def _reload_event_time(self) -> None:
        async with self.pool.acquire() as conn:
            await self.processor.load_state(conn)

    async def seek_to_stored(self, partitions: list[TopicPartition]) -> None:
        async def load() -> dict[tuple[str, int], int]:
            async with self.pool.acquire() as conn:
                return await self.store.load_offsets(
                    conn, [(tp.topic, tp.partition) for tp in partitions]
                )

        # Bumped before the load as well as after it: while the listener awaits the database,
        # aiokafka already fetches the new assignment from its own reset position (Kafka's
        # informative commit, or earliest), and getmany may hand those records out. A batch
        # fetched across any part of a seek is dropped (seen in the SIGKILL tests: a fetch
        # from offset 0 with 15 stored, and once a stored offset rewound by such a batch).
        self.generation += 1
        stored = await retry_transient("load stored offsets", load)
        self.generation += 1
        # A rebalance may have moved some of them while the offsets loaded: those are the
        # next assignment's to seek (its listener does).
        current = self.consumer.assignment()
        for tp in partitions:
            if tp not in current:
                continue
            offset = stored.get((tp.topic, tp.partition))
            self.expected[(tp.topic, tp.partition)] = offset
            # Offset 0 where nothing is stored: if retention already deleted it, the reset
            # policy (earliest) moves to the first record. No broker round trip here, which
            # inside a rebalance listener could fail on a partition moving away again.
            self.consumer.seek(tp, 0 if offset is None else offset)
        log.info("assigned %d partitions; seeked to stored offsets", len(partitions))

    async def run(self) -> None:
        """Consume until stop() is called; the batch in hand is finished and committed first."""
        await self.publisher.relay()
        last_relay = time.monotonic()
        self._publishing = asyncio.create_task(self._publish_in_order())
        self._open_ahead()
        in_flight: asyncio.Task[None] | None = None
        try:
            while not self.stopping.is_set():
                generation = self.generation
                fetched = await self.consumer.getmany(
                    timeout_ms=self.batch_timeout_ms, max_records=self.batch_max_records
                )
                if self.listener_error is not None:
                    raise RuntimeError(
                        "seeking to the stored offsets failed"
                    ) from self.listener_error
                # Decoding runs here, while the previous batch's transaction is in flight.
                prepared = self._prepare(fetched) if fetched else None
                if prepared is None and self.processor.event_time.overdue():
                    # A bounded wait expired on a silent stream: an empty batch ends it.
                    prepared = self.processor.prepare({}, {})
                if in_flight is not None:
                    task, in_flight = in_flight, None
                    await _settling_during(prepared, task)
                if prepared is not None:
                    await prepared.settle()  # (a no-op when settled above)
                    if self.taking_over:
                        self.metrics.stale_fetches.inc()  # take_over seeks when it is done
                    elif generation != self.generation or self._behind_stored(fetched):
                        # Seeked since the fetch began (what it returned may come from before
                        # the seek), or it starts below the stored offsets: drop it and
                        # resume from the stored offsets.
                        await self.seek_to_stored(list(self.consumer.assignment()))
                    else:
                        in_flight = asyncio.create_task(self._handle_prepared(prepared))
                        self._running.add(in_flight)
                        in_flight.add_done_callback(self._running.discard)
                        if prepared.overlap is not None:
                            await _until_overlapped(in_flight, prepared.overlap)
                        if self.fault_batch_delay_ms:
                            delay = self._fault_rng.uniform(0, self.fault_batch_delay_ms)
                            await asyncio.sleep(delay / 1000)
                if time.monotonic() - last_relay >= self.relay_interval_s:
                    if in_flight is not None:
                        task, in_flight = in_flight, None
                        await task
                    await self._drain_publication()
                    await self.publisher.relay()
                    last_relay = time.monotonic()
                self._update_lag()
            if in_flight is not None:
                task, in_flight = in_flight, None
                await task
            await self._drain_publication()
            await self._commit_to_kafka()
        finally:
            for pending in (in_flight, self._publishing):
                if pending is not None and not pending.done():
                    pending.cancel()
                    with contextlib.suppress(BaseException):
                        await pending
            self._publishing = None
            await self._discard_opened()

    def _open_ahead(self) -> None:
        if self._opening is None:
            self._opening = asyncio.create_task(self._open_transaction())

    async def _open_transaction(self) -> _OpenTransaction:
        conn = await self.pool.acquire()
        try:
            transaction = conn.transaction()
            await transaction.start()
            batch_no = await self.store.next_batch_no(conn)
        except BaseException:
            await self.pool.release(conn)  # the pool's reset rolls back what was begun
            raise
        return _OpenTransaction(conn, transaction, batch_no)

    async def _take_opened(self) -> _OpenTransaction | None:
        task, self._opening = self._opening, None
        if task is None:
            return None
        try:
            return await task
        except Exception as exc:
            # e.g. the database is down: the ordinary path retries with backoff.
            log.debug("opening a transaction ahead failed: %s", exc)
            return None

    async def _discard_opened(self) -> None:
        task, self._opening = self._opening, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        try:
            opened = await task
        except BaseException:
            return
        try:
            await opened.transaction.rollback()
        except Exception as exc:
            log.debug("rolling back the transaction opened ahead failed: %s", exc)
        finally:
            await self.pool.release(opened.conn)

    async def _run_in_opened(self, opened: _OpenTransaction, batch: PreparedBatch) -> BatchOutcome:
        try:
            outcome = await self.processor.run_in_transaction(
                opened.conn, batch, self.expected, opened.batch_no
            )
            await opened.transaction.commit()
            return outcome
        except BaseException:
            with contextlib.suppress(Exception):
                await opened.transaction.rollback()
            raise
        finally:
            await self.pool.release(opened.conn)

    def _behind_stored(self, fetched: dict[TopicPartition, list[Any]]) -> bool:
        stale = fetch_behind_stored(fetched, self.expected)
        if stale is None:
            return False
        tp, first, stored = stale
        log.warning("fetched %s from offset %d but %d is stored; re-seeking", tp, first, stored)
        self.metrics.stale_fetches.inc()
        return True

    def _prepare(self, fetched: dict[TopicPartition, list[Any]]) -> PreparedBatch:
        by_topic: dict[str, list[Any]] = {}
        next_offsets: dict[tuple[str, int], int] = {}
        for tp, messages in sorted(fetched.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
            if messages:
                by_topic.setdefault(tp.topic, []).extend(messages)
                # A partition's messages come in offset order.
                next_offsets[(tp.topic, tp.partition)] = messages[-1].offset + 1
        return self.processor.prepare(
            {topic: FetchedRecords(messages) for topic, messages in by_topic.items()},
            next_offsets,
        )

    async def handle_batch(self, records: list[ConsumedRecord]) -> None:
        """Process one batch and publish it before returning (no pipelining)."""
        prepared = self.processor.prepare(*self.processor.group(records))
        outcome = await self._process(prepared)
        if outcome is not None:
            await self._publish(outcome)

    async def _handle_prepared(self, prepared: PreparedBatch) -> None:
        outcome = await self._process(prepared)
        if outcome is None:
            return
        self.publisher.hold(outcome.batch_no)
        publishing = self._publishing
        if publishing is None:
            await self._publish(outcome)
            return
        if publishing.done():
            publishing.result()  # re-raise what stopped the publisher
        put = asyncio.ensure_future(self._unpublished.put(outcome))
        # Wait for room in the queue, unless the publisher dies meanwhile.
        await asyncio.wait([put, publishing], return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            publishing.result()

    async def _process(self, prepared: PreparedBatch) -> BatchOutcome | None:
        """Run the batch's transaction (retried); None when it was fenced and dropped."""
        started = time.perf_counter()
        batch = prepared

        async def run() -> BatchOutcome:
            opened = await self._take_opened()
            if opened is not None:
                return await self._run_in_opened(opened, batch)
            async with self.pool.acquire() as conn:
                return await self.processor.process_prepared(conn, batch, self.expected)

        async def attempt() -> BatchOutcome:
            nonlocal batch
            while True:
                try:
                    return await run()
                except ComputeFirst as need:
                    # The transaction has rolled back: compute with none open, then rerun.
                    log.info("batch needs %s first; computing outside the transaction", need)
                    await need.compute()
                except HandlerFailed as failed:
                    # Rolled back too: run it again one record at a time (quarantine.py).
                    isolation = batch.isolation or Isolation()
                    if batch.isolation is not None:
                        isolation.blame(failed)  # raises when no one record is to blame
                    log.warning("%s; dead-lettering the records it fails on", failed)
                    self.metrics.isolated_batches.inc()
                    await self._reload_after_rollback()
                    batch = self._prepare_again(prepared, isolation)
                    continue
                await self._reload_after_rollback()
                batch = self._prepare_again(prepared, batch.isolation)

        async def after_failure(exc: BaseException) -> None:
            nonlocal batch
            await self._after_failed_attempt()
            # Decode again for the retry, exactly as an unpipelined retry would.
            batch = self._prepare_again(prepared, batch.isolation)

        try:
            outcome = await retry_transient("process batch", attempt, on_retry=after_failure)
        except OffsetsFenced as exc:
            # Another consumer committed past us: drop this batch and resume from the DB.
            self.metrics.fenced.inc()
            log.warning("batch fenced (%s); re-seeking to stored offsets", exc)
            await self._after_failed_attempt()
            await self.seek_to_stored(list(self.consumer.assignment()))
            return None
        for tp, next_offset in outcome.next_offsets.items():
            self.expected[tp] = next_offset
        if self._publishing is not None:  # the pipelined loop is running: open the next one
            self._open_ahead()
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        for topic, n in outcome.records_in.items():
            self.metrics.records_in(topic).inc(n)
        for topic, n in outcome.dead_letters.items():
            self.metrics.dead_lettered(topic).inc(n)
        return outcome

    def _prepare_again(self, prepared: PreparedBatch, isolation: Isolation | None) -> PreparedBatch:
        """The batch decoded afresh for another attempt, run in `isolation` if given."""
        again = self.processor.prepare(prepared.records, prepared.next_offsets)
        return again if isolation is None else replace(again, isolation=isolation)

    async def _publish(self, outcome: BatchOutcome) -> None:
        await self.publisher.publish_batch(outcome.batch_no, outcome.outgoing)
        self.batches += 1
        self._uncommitted.update(outcome.next_offsets)
        if time.monotonic() - self._last_kafka_commit >= KAFKA_COMMIT_INTERVAL_S:
            await self._commit_to_kafka()

    async def _publish_in_order(self) -> None:
        while True:
            outcome = await self._unpublished.get()
            try:
                await self._publish(outcome)
            finally:
                self._unpublished.task_done()

    async def _drain_publication(self) -> None:
        """Wait until every committed batch is published (or the publisher has failed)."""
        publishing = self._publishing
        if publishing is None:
            return
        joined = asyncio.ensure_future(self._unpublished.join())
        await asyncio.wait([joined, publishing], return_when=asyncio.FIRST_COMPLETED)
        if not joined.done():
            joined.cancel()
            publishing.result()

    async def _after_failed_attempt(self) -> None:
        self.metrics.retries("process batch").inc()
        await self._reload_after_rollback()

    async def _reload_after_rollback(self) -> None:
        if self.reload_state is not None:
            await retry_transient("reload service state", self.reload_state)
        await retry_transient("reload event-time state", self._reload_event_time)

    async def _commit_to_kafka(self) -> None:
        """Informative only (rule 2): failure here is logged, never retried or fatal."""
        next_offsets, self._uncommitted = self._uncommitted, {}
        self._last_kafka_commit = time.monotonic()
        if not next_offsets:
            return
        try:
            await self.consumer.commit(
                {TopicPartition(t, p): o for (t, p), o in next_offsets.items()}
            )
        except Exception as exc:
            log.debug("informative Kafka offset commit failed: %s", exc)

    def _update_lag(self) -> None:
        for tp in self.consumer.assignment():
            highwater = self.consumer.highwater(tp)
            position = self.expected.get((tp.topic, tp.partition))
            if highwater is not None and position is not None:
                self.metrics.consumer_lag(tp.topic, str(tp.partition)).set(
                    max(0, highwater - position)
                )

    def stop(self) -> None:
        self.stopping.set()
