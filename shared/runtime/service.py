"""Running one service: database, migrations, consumer loop, outbox relay, HTTP, signals.

Start-up order: settings (validated) -> pool -> migrations -> producer -> relay of unsent
outbox rows -> service hook (load state) -> HTTP -> consumer. Shutdown on SIGTERM/SIGINT:
stop fetching, finish and commit the batch in hand, publish it, then close consumer,
producer, HTTP and pool, in that order. SIGUSR1 logs the stack of every asyncio task (what a
service that stopped making progress is waiting on), and the service carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import APIRouter

from shared.clock import Clock, SystemClock
from shared.runtime.api_token import ensure_local_api_token
from shared.runtime.assignment import Partitioning, TitanAssignor, new_replica_id
from shared.runtime.auth import BearerAuth
from shared.runtime.batch import BatchProcessor, Route
from shared.runtime.broker_login import check_broker_login
from shared.runtime.consumer import ConsumerLoop, make_consumer
from shared.runtime.endpoints import register_endpoint, titan_home, unregister_endpoint
from shared.runtime.event_time import WatermarkOutputs, as_outputs
from shared.runtime.gc_tuning import tune_gc_for_batches
from shared.runtime.http import HttpServer, build_app
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.outbox import OutboxPublisher, make_producer
from shared.runtime.records import TopicNames
from shared.runtime.retry import retry_transient
from shared.runtime.store import RuntimeStore
from shared.runtime.unit_of_work import RuntimeOutbox, UnitOfWork, UnitsOfWork
from shared.settings import KafkaSettings, ServiceSettings

log = logging.getLogger(__name__)

RUNTIME_MIGRATIONS = ("runtime", Path(__file__).parent / "sql")
# Time allowed for the batch in hand to finish after SIGTERM before tasks are cancelled;
# 25 s fits inside Kubernetes' default 30 s termination grace period.
SHUTDOWN_GRACE_S = 25.0


S = TypeVar("S", bound=ServiceSettings)
A = TypeVar("A")


@dataclass
class Runtime(Generic[S]):
    """What the runtime gives a service: its settings (of the service's own class), pool,
    topics, producer, metrics and clock; `build_app` makes the service's state from it."""

    name: str
    settings: S
    kafka: KafkaSettings
    pool: asyncpg.Pool
    topics: TopicNames
    metrics: RuntimeMetrics
    clock: Clock
    producer: AIOKafkaProducer
    publisher: OutboxPublisher
    store: RuntimeStore

    @property
    def producer_name(self) -> str:
        return f"titan-{self.name}"

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the pool in a transaction (reads; writes that emit nothing)."""
        async with self.pool.acquire() as conn, conn.transaction():
            yield conn

    @property
    def units(self) -> UnitsOfWork[asyncpg.Connection]:
        """Units of work on this service's pool and outbox (unit_of_work.py)."""
        outbox = RuntimeOutbox(self.store, self.publisher)
        return UnitsOfWork(self.transaction, outbox, self.topics, self.producer_name, self.clock)

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork[asyncpg.Connection]]:
        """`async with ctx.unit_of_work() as uow:` writes on uow.conn, uow.emit(...); the
        events are written to the outbox before commit and published after it."""
        return self.units()


@dataclass
class ServiceContext(Runtime[S], Generic[S, A]):
    """What a service's routes, hooks, jobs and HTTP API get: the runtime and its app."""

    app: A


@dataclass(frozen=True)
class ServiceDefinition(Generic[S, A]):
    """A service, declared once; `ServiceRunner` builds and runs it.

    Start-up calls, in order: build_app(runtime) -> routes(ctx) -> start_checks(ctx) ->
    on_start(ctx) -> api(ctx) -> background jobs(ctx)."""

    name: str  # also the PostgreSQL schema name
    settings: type[S]
    # The service's state (its app object), made once from the runtime before anything runs.
    build_app: Callable[[Runtime[S]], A]
    routes: Callable[[ServiceContext[S, A]], Sequence[Route[Any]]] = lambda _ctx: ()
    migrations: Sequence[tuple[str, Path]] = ()
    api: Callable[[ServiceContext[S, A]], APIRouter] | None = None
    # Run once at start-up, before on_start (e.g. refuse topics that do not fit).
    start_checks: Sequence[Callable[[ServiceContext[S, A]], Awaitable[None]]] = ()
    # Loads the service's in-memory state from its tables; called at start-up and again
    # before a failed batch is retried, so a rolled-back attempt leaves no trace in memory.
    on_start: Callable[[ServiceContext[S, A]], Awaitable[None]] | None = None
    background: Sequence[Callable[[ServiceContext[S, A]], Coroutine[Any, Any, None]]] = ()
    pool_max: int = 4
    # Output topics whose watermark follows the input watermark of the aligned routes.
    # Several when the outputs have several watermark sources (regime: market and pairs).
    watermark_outputs: Callable[[S], WatermarkOutputs | Sequence[WatermarkOutputs]] | None = None
    # How replicas share the inputs (assignment.py), and the contract topics (inputs and
    # outputs) that must have one partition count for that to be correct. Exclusive topics
    # go whole to one replica whatever the partitioning (regime's bars: the market series).
    partitioning: Partitioning = "co_partitioned"
    co_partitioned_topics: tuple[str, ...] = ()
    exclusive_topics: tuple[str, ...] = ()


async def create_pool(dsn: str, schema: str, max_size: int) -> asyncpg.Pool:
    async def connect() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=1,
            max_size=max_size,
            server_settings={"search_path": schema, "application_name": f"titan-{schema}"},
            # 10 s: a local or in-cluster database answers in milliseconds; longer means down,
            # and retry_transient's backoff takes over.
            timeout=10,
        )
        assert pool is not None
        return pool

    return await retry_transient("connect to PostgreSQL", connect, max_attempts=30)


async def apply_migrations(
    pool: asyncpg.Pool, schema: str, sources: Sequence[tuple[str, Path]]
) -> list[str]:
    from shared.db.migrations import migrate

    async with pool.acquire() as conn:
        applied: list[str] = await migrate(conn, schema, [RUNTIME_MIGRATIONS, *sources])
        return applied


class ServiceRunner(Generic[S, A]):
    def __init__(
        self,
        definition: ServiceDefinition[S, A],
        settings: S,
        kafka: KafkaSettings,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(settings, definition.settings):
            raise TypeError(
                f"{definition.name} needs {definition.settings.__name__}, "
                f"got {type(settings).__name__}"
            )
        self.definition = definition
        self.settings = settings
        self.kafka = kafka
        self.topics = TopicNames(settings.topic_prefix)
        self.clock = clock or SystemClock()
        self.metrics = RuntimeMetrics(definition.name)
        self.http_port: int | None = None
        self.replica = new_replica_id()
        self._stop = asyncio.Event()

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        d = self.definition
        group = self.settings.consumer_group or f"titan-{d.name}"
        pool = await create_pool(self.settings.database_url.get_secret_value(), d.name, d.pool_max)
        producer = make_producer(self.kafka, client_id=f"titan-{d.name}")
        loop: ConsumerLoop | None = None
        http: HttpServer | None = None
        tasks: list[asyncio.Task[None]] = []
        try:
            applied = await apply_migrations(pool, d.name, d.migrations)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            # A refused login raises BrokerLoginRefused here and the service exits naming it,
            # instead of retrying a wrong password as if the broker were down.
            login = self.kafka.client_kwargs()
            await retry_transient(
                "log in to the broker", lambda: check_broker_login(login), max_attempts=30
            )
            await retry_transient("start producer", producer.start, max_attempts=30)
            store = RuntimeStore(group, self.replica)
            publisher = OutboxPublisher(
                producer,
                pool,
                store,
                self.metrics,
                keep_seen_s=self.settings.seen_events_keep_days * 86400.0,
            )
            runtime = Runtime(
                d.name,
                self.settings,
                self.kafka,
                pool,
                self.topics,
                self.metrics,
                self.clock,
                producer,
                publisher,
                store,
            )
            parts = {f.name: getattr(runtime, f.name) for f in fields(runtime)}
            ctx = ServiceContext(**parts, app=d.build_app(runtime))
            loop = await self._consumer_loop(ctx, group)
            if loop is None:
                # No group says who is live: every unsent row is an orphan of a past run.
                await publisher.relay_orphans(None)
            for check in d.start_checks:
                await check(ctx)
            if d.on_start is not None:
                on_start = d.on_start
                await retry_transient("load service state", lambda: on_start(ctx), max_attempts=30)
            http = await self._serve_http(ctx, loop)
            background = [asyncio.create_task(job(ctx)) for job in d.background]
            tasks.extend(background)
            if loop is not None:
                tune_gc_for_batches()
                await retry_transient("start consumer", loop.consumer.start, max_attempts=30)
                loop.subscribe()
                tasks.append(asyncio.create_task(loop.run()))
            await self._until_stopped(loop, background, tasks)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            if loop is not None:
                with contextlib.suppress(Exception):
                    await loop.consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()
            if http is not None:
                with contextlib.suppress(Exception):
                    await http.stop()
            unregister_endpoint(d.name)
            await pool.close()

    async def _until_stopped(
        self,
        loop: ConsumerLoop | None,
        background: list[asyncio.Task[None]],
        tasks: list[asyncio.Task[None]],
    ) -> None:
        stop_wait = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stop_wait and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        if loop is not None:
            loop.stop()
        # Background jobs loop until cancelled, and each of their steps is one unit of work:
        # cancelling them loses nothing. Only the batch in hand gets the grace period
        # (waiting on the jobs held every shutdown for the full 25 s).
        for t in background:
            t.cancel()
        _, pending = (
            await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S) if tasks else (set(), set())
        )
        for t in pending:
            t.cancel()
        stop_wait.cancel()

    async def _consumer_loop(self, ctx: ServiceContext[S, A], group: str) -> ConsumerLoop | None:
        """The consumer loop of the service's routes (None: it has none)."""
        d = self.definition
        routes = list(d.routes(ctx))
        if not routes:
            return None
        exclusive = frozenset(self.topics.real(t) for t in d.exclusive_topics)
        assignor = TitanAssignor.for_replica(self.replica, d.partitioning, exclusive)
        consumer = make_consumer(
            self.kafka, group, f"titan-{d.name}", self.settings.batch_max_records, assignor
        )
        outputs = d.watermark_outputs(self.settings) if d.watermark_outputs is not None else None
        processor = BatchProcessor(
            routes,
            ctx.store,
            self.topics,
            self.clock,
            f"titan-{d.name}",
            outputs=outputs,
            metrics=self.metrics,
            max_wait_s=self.settings.max_watermark_wait_s,
        )
        await self._check_partitions(ctx, [r.topic for r in routes])
        await self._prepare_event_time(processor, ctx.producer, ctx.pool, outputs)
        on_start = d.on_start

        async def reload_state() -> None:
            if on_start is not None:
                await on_start(ctx)

        return ConsumerLoop(
            consumer,
            processor,
            ctx.publisher,
            ctx.pool,
            ctx.store,
            self.metrics,
            batch_timeout_ms=self.settings.batch_timeout_ms,
            batch_max_records=self.settings.batch_max_records,
            relay_interval_s=self.settings.outbox_relay_interval_s,
            fault_batch_delay_ms=self.settings.fault_batch_delay_ms,
            reload_state=reload_state if on_start is not None else None,
            assignor=assignor,
        )

    async def _serve_http(self, ctx: ServiceContext[S, A], loop: ConsumerLoop | None) -> HttpServer:
        d, pool = self.definition, ctx.pool

        async def readiness() -> dict[str, bool]:
            checks = {"consumer_assigned": loop is None or loop.assigned.is_set()}
            try:
                async with pool.acquire(timeout=2) as conn:
                    await conn.fetchval("SELECT 1")
                checks["database"] = True
            except Exception:
                checks["database"] = False
            return checks

        routers = [d.api(ctx)] if d.api is not None else []
        http = HttpServer(
            build_app(
                d.name,
                self.metrics,
                readiness,
                routers,
                await self._api_auth(),
                max_body_bytes=self.settings.http_max_body_bytes,
            ),
            self.settings.http_host,
            self.settings.http_port,
        )
        self.http_port = await http.start()
        log.info("%s serving HTTP on %s:%d", d.name, self.settings.http_host, self.http_port)
        register_endpoint(d.name, f"http://{self.settings.http_host}:{self.http_port}")
        return http

    async def _api_auth(self) -> BearerAuth:
        token = self.settings.api_token
        if token is None:
            home = titan_home()
            token = await asyncio.to_thread(ensure_local_api_token, home)
            log.info("%s HTTP API token: the local one under %s", self.definition.name, home)
        return BearerAuth(token, protect_reads=self.settings.api_token_reads)

    async def _partition_count(self, producer: AIOKafkaProducer, contract_topic: str) -> int:
        real = self.topics.real(contract_topic)

        async def partitions() -> int:
            found = await producer.partitions_for(real)
            if not found:
                raise ConnectionError(f"no partitions known for {real}")
            return len(found)

        return await retry_transient(f"partitions of {real}", partitions, max_attempts=30)

    async def _check_partitions(self, ctx: ServiceContext[S, A], inputs: list[str]) -> None:
        """Refuse to start on co-partitioned topics of different partition counts, or on
        inputs whose count changed since the group first ran (keys would have moved)."""
        d = self.definition
        counts = {t: await self._partition_count(ctx.producer, t)
                  for t in sorted({*inputs, *d.co_partitioned_topics})}  # fmt: skip
        together = {t: counts[t] for t in d.co_partitioned_topics}
        if len(set(together.values())) > 1:
            found = ", ".join(f"{t}={n}" for t, n in sorted(together.items()))
            raise RuntimeError(
                f"{d.name} needs one partition count for its co-partitioned topics, found "
                f"{found}: set TITAN_TOPIC_PARTITIONS (and its overrides) alike for them"
            )

        async def check_counts() -> None:
            async with ctx.pool.acquire() as conn:
                await ctx.store.check_partition_counts(
                    conn, {self.topics.real(t): counts[t] for t in inputs}
                )

        # A database that is not up yet is waited for; a changed count raises at once.
        await retry_transient("check input partition counts", check_counts, max_attempts=30)

    async def _prepare_event_time(
        self,
        processor: BatchProcessor,
        producer: AIOKafkaProducer,
        pool: asyncpg.Pool,
        outputs: WatermarkOutputs | Sequence[WatermarkOutputs] | None,
    ) -> None:
        """Partition counts of the output topics (a watermark goes to each) and the stored
        watermarks and pending events."""
        for contract_topic in sorted({t for o in as_outputs(outputs) for t in o.topics}):
            count = await self._partition_count(producer, contract_topic)
            processor.event_time.output_partitions[self.topics.real(contract_topic)] = count

        async def load() -> None:
            async with pool.acquire() as conn:
                await processor.load_state(conn)

        await retry_transient("load event-time state", load, max_attempts=30)


def log_task_stacks() -> None:
    """Log where every asyncio task of this loop is suspended (one record per task)."""
    for task in asyncio.all_tasks():
        frames = task.get_stack()
        where = " <- ".join(
            f"{f.f_code.co_name} ({Path(f.f_code.co_filename).name}:{f.f_lineno})"
            for f in reversed(frames)
        )
        log.warning("task %s: %s", task.get_name(), where or "(no frames)")


def run_forever(
    runner: ServiceRunner[Any, Any], stop_requested: Callable[[], bool] = lambda: False
) -> int:
    """Run a service until SIGTERM/SIGINT; exit code 0 after a clean shutdown.

    `stop_requested` says whether a stop signal arrived before the loop's handlers were
    installed; it is read after they are, so no signal falls between the two."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.request_stop)
        loop.add_signal_handler(signal.SIGUSR1, log_task_stacks)
        if stop_requested():
            log.info("Stop requested before start-up; exiting")
            return
        await runner.run()

    asyncio.run(main())
    return 0
