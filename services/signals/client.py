"""Subscriber clients of signals.v1: an async iterator and a blocking client.

`SignalSubscriber` is an async iterator of typed `Envelope[SignalEmitted]`:

    async with SignalSubscriber(kafka, start="beginning") as signals:
        async for envelope in signals:
            ...

`start` is "beginning", "now", a datetime (each partition starts at the first record whose
Kafka timestamp is at or after it, found with offsets_for_times) or a stream position taken
earlier with `position()` (partition -> next offset): resuming from it neither loses nor
repeats a record. Its offsets are clamped into the log; a partition it does not name is read
from the beginning (added after the position was taken, it holds nothing its reader saw);
see services/signals/stream_position.py. With `group_id=None` the subscriber reads every
partition itself (nothing is committed); with a group, partitions are shared among the
group's members, offsets are committed, and `start` applies only where the group has no
committed offset yet. The contract allows a signal to reach the topic twice (as an exact
copy), so envelopes whose event id was already seen are dropped.

`BlockingSignalClient` serves synchronous callers (a Django view, a Celery task). It runs ONE
event loop in a daemon thread for its whole life and submits coroutines to it with
`asyncio.run_coroutine_threadsafe`; it never creates a loop per call, so it works from plain
threads, from many threads at once and from code that is itself running an event loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, NamedTuple, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.signals.stream_position import StartAt, checked_position, seek_to_position
from shared.events import DecodeError, Envelope, SignalEmitted, decode, ensure_utc
from shared.runtime.api_token import resolve_api_token
from shared.runtime.endpoints import lookup_endpoint, titan_home
from shared.runtime.loop_thread import LoopThread
from shared.runtime.watermarks import is_watermark
from shared.settings import KafkaSettings
from shared.topics import SIGNALS

log = logging.getLogger(__name__)

T = TypeVar("T")
# Ids remembered for duplicate detection: copies of an event are published close together
# (a relay after a crash), so the last 100k ids cover any realistic gap.
DEDUPE_WINDOW = 100_000
METADATA_TIMEOUT_S = 15.0


class _Received(NamedTuple):
    """A signal and where it was read, so a position can stop short of unread ones."""

    partition: int
    offset: int
    envelope: Envelope[SignalEmitted]


class SignalSource(ABC):
    """Where a BlockingSignalClient gets signals from (Kafka in production)."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def poll(self, max_records: int, wait_s: float) -> list[Envelope[SignalEmitted]]: ...

    @abstractmethod
    async def stop(self) -> None: ...


class _SeekNewPartitions(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscriber: SignalSubscriber) -> None:
        self.subscriber = subscriber

    async def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        consumer = self.subscriber.consumer
        assert consumer is not None
        fresh = [tp for tp in assigned if await consumer.committed(tp) is None]
        await self.subscriber.seek_to_start(fresh)


class SignalSubscriber(SignalSource):
    def __init__(
        self,
        kafka: KafkaSettings | str,
        *,
        topic_prefix: str = "",
        start: StartAt = "now",
        group_id: str | None = None,
        client_id: str = "titan-signal-subscriber",
        dedupe_window: int = DEDUPE_WINDOW,
    ) -> None:
        if isinstance(start, Mapping):
            start = checked_position(start)  # a copy: the caller's mapping may change later
        elif not isinstance(start, datetime) and start not in ("beginning", "now"):
            raise ValueError(
                f"start must be 'beginning', 'now', a datetime or a stream position "
                f"(partition -> next offset), got {start!r}"
            )
        self.kafka = kafka if isinstance(kafka, KafkaSettings) else KafkaSettings(bootstrap=kafka)
        self.topic = f"{topic_prefix}{SIGNALS.name}"
        self.start_at = start
        self.group_id = group_id
        self.client_id = client_id
        self.consumer: AIOKafkaConsumer | None = None
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._dedupe_window = dedupe_window
        self._buffer: collections.deque[_Received] = collections.deque()
        self._lock = asyncio.Lock()
        self._stopped = False
        self.duplicates = 0
        self.undecodable = 0

    async def start(self) -> None:
        if self.consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            **self.kafka.client_kwargs(),
            group_id=self.group_id,
            client_id=self.client_id,
            enable_auto_commit=self.group_id is not None,
            auto_offset_reset=self._offset_reset(),
        )
        self.consumer = consumer
        try:
            await consumer.start()
            if self.group_id is None:
                partitions = await self._partitions(consumer)
                consumer.assign(partitions)
                await self.seek_to_start(partitions)
            else:
                consumer.subscribe([self.topic], listener=_SeekNewPartitions(self))
        except BaseException:
            self.consumer = None
            await consumer.stop()
            raise

    def _offset_reset(self) -> Literal["earliest", "latest"]:
        # From a stream position the offsets were clamped into the log; only retention can
        # then move the log start past one before the first fetch, and what follows it is owed.
        if self.start_at == "beginning" or isinstance(self.start_at, Mapping):
            return "earliest"
        return "latest"

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        deadline = time.monotonic() + METADATA_TIMEOUT_S
        while True:
            # A fresh consumer's partitions_for_topic() only knows topics it subscribed to;
            # the metadata of all topics comes from the client (aiokafka has no public call).
            cluster = await consumer._client.fetch_all_metadata()
            found = cluster.partitions_for_topic(self.topic)
            if found:
                return [TopicPartition(self.topic, p) for p in sorted(found)]
            if time.monotonic() > deadline:
                raise LookupError(f"topic {self.topic!r} does not exist on {self.kafka.bootstrap}")
            await asyncio.sleep(0.5)

    async def seek_to_start(self, partitions: Sequence[TopicPartition]) -> None:
        consumer = self.consumer
        if consumer is None or not partitions:
            return
        if self.start_at == "beginning":
            await consumer.seek_to_beginning(*partitions)
        elif self.start_at == "now":
            await consumer.seek_to_end(*partitions)
        elif isinstance(self.start_at, Mapping):
            await seek_to_position(consumer, list(partitions), self.start_at)
        else:
            ms = int(ensure_utc(self.start_at).timestamp() * 1000)
            found = await consumer.offsets_for_times({tp: ms for tp in partitions})
            for tp in partitions:
                hit = found.get(tp)
                if hit is None:
                    await consumer.seek_to_end(tp)  # nothing at or after the time yet
                else:
                    consumer.seek(tp, hit.offset)

    async def poll(
        self, max_records: int = 500, wait_s: float = 1.0
    ) -> list[Envelope[SignalEmitted]]:
        """Up to `max_records` new signals, waiting at most `wait_s` seconds for the first."""
        return [r.envelope for r in await self._receive(max_records, wait_s)]

    async def _receive(self, max_records: int, wait_s: float) -> list[_Received]:
        if max_records < 1:
            raise ValueError(f"max_records must be >= 1, got {max_records}")
        if wait_s < 0:
            raise ValueError(f"wait_s must be >= 0 seconds, got {wait_s}")
        async with self._lock:
            consumer = await self._started_consumer()
            fetched = await consumer.getmany(timeout_ms=int(wait_s * 1000), max_records=max_records)
            out: list[_Received] = []
            for tp in sorted(fetched, key=lambda t: t.partition):
                for message in fetched[tp]:
                    if is_watermark(message.headers):
                        continue  # the service's event-time progress, not a signal
                    envelope = self._accept(message.value)
                    if envelope is not None:
                        out.append(_Received(tp.partition, message.offset, envelope))
            return out

    async def _started_consumer(self) -> AIOKafkaConsumer:
        if self.consumer is None:
            await self.start()
        assert self.consumer is not None
        return self.consumer

    async def position(self) -> dict[int, int]:
        """Where to resume so that nothing handed out is repeated and nothing else is lost:
        partition -> next offset, for every partition assigned now, sorted by partition.

        Past every record `poll` returned, watermark and undecodable records included (the
        consumer's own position), but not past a signal the iterator still holds unread.
        Starts the subscriber if it was not (for "now", the position is then the end)."""
        if self._stopped and self.consumer is None:
            raise RuntimeError("the subscriber is stopped: take its position before stop()")
        async with self._lock:
            consumer = await self._started_consumer()
            assigned = [tp for tp in consumer.assignment() if tp.topic == self.topic]
            at = {tp.partition: await consumer.position(tp) for tp in assigned}
        for received in self._buffer:  # a batch in partition then offset order: first is least
            if received.partition in at:
                at[received.partition] = min(at[received.partition], received.offset)
        return dict(sorted(at.items()))

    def _accept(self, value: bytes | None) -> Envelope[SignalEmitted] | None:
        if value is None:
            self.undecodable += 1
            return None
        try:
            envelope: Envelope[SignalEmitted] = decode(value, (SignalEmitted.EVENT_TYPE,))
        except DecodeError as exc:
            self.undecodable += 1
            log.warning("skipping an undecodable record on %s: %s", self.topic, exc)
            return None
        event_id = str(envelope.event_id)
        if event_id in self._seen:
            self.duplicates += 1
            self._seen.move_to_end(event_id)
            return None
        self._seen[event_id] = None
        if len(self._seen) > self._dedupe_window:
            self._seen.popitem(last=False)
        return envelope

    async def stop(self) -> None:
        self._stopped = True
        consumer, self.consumer = self.consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> SignalSubscriber:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def __aiter__(self) -> SignalSubscriber:
        return self

    async def __anext__(self) -> Envelope[SignalEmitted]:
        while not self._buffer:
            if self._stopped:
                raise StopAsyncIteration
            self._buffer.extend(await self._receive(500, 1.0))
        return self._buffer.popleft().envelope


class BlockingSignalClient:
    """Synchronous, thread-safe access to signals: one background loop for the client's life.

    Use as a context manager (closed on exit, also when a call raised) or call `close()`.
    """

    def __init__(
        self,
        source: SignalSource | None = None,
        *,
        kafka: KafkaSettings | str | None = None,
        topic_prefix: str = "",
        start: StartAt = "now",
        group_id: str | None = None,
        service_url: str | None = None,
        call_timeout: float = 30.0,
    ) -> None:
        if source is None:
            if kafka is None:
                raise ValueError("give either a signal source or the Kafka settings/bootstrap")
            source = SignalSubscriber(
                kafka, topic_prefix=topic_prefix, start=start, group_id=group_id
            )
        self.source = source
        self.service_url = service_url
        self.call_timeout = call_timeout
        self._started = False
        self._http: httpx.AsyncClient | None = None
        self._runner = LoopThread(
            "titan-signal-client",
            closed=lambda: RuntimeError("BlockingSignalClient is closed"),
            timed_out=lambda t: TimeoutError(f"signal client call did not finish within {t}s"),
            own_thread="BlockingSignalClient called from its own event-loop thread; "
            "use SignalSubscriber (async) there instead",
        )

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float | None = None) -> T:
        return self._runner.run(make, self.call_timeout if timeout is None else timeout)

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.source.start()
            self._started = True

    # -- API ------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect now (else the first poll connects); 'now' then means this moment."""
        self._call(self._ensure_started)

    def poll_envelopes(
        self, max_records: int = 100, timeout: float = 1.0
    ) -> list[Envelope[SignalEmitted]]:
        async def run() -> list[Envelope[SignalEmitted]]:
            await self._ensure_started()
            return await self.source.poll(max_records, timeout)

        return self._call(run, timeout + self.call_timeout)

    def poll(self, max_records: int = 100, timeout: float = 1.0) -> list[SignalEmitted]:
        """Up to `max_records` new signals, waiting at most `timeout` seconds for some."""
        return [e.payload for e in self.poll_envelopes(max_records, timeout)]

    def fetch_history(
        self,
        pair_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[SignalEmitted]:
        """Stored signals from the signals service's HTTP API (GET /signals)."""
        query: dict[str, str | int] = {"limit": limit}
        if pair_id is not None:
            query["pair_id"] = pair_id
        if start is not None:
            query["start"] = ensure_utc(start).isoformat()
        if end is not None:
            query["end"] = ensure_utc(end).isoformat()
        data = self._call(lambda: self._get_json("/signals", query))
        return [SignalEmitted.model_validate(s) for s in data["signals"]]

    def active_positions(self) -> list[dict[str, Any]]:
        """Open positions with their opening signal (GET /signals/active)."""
        data = self._call(lambda: self._get_json("/signals/active", {}))
        positions: list[dict[str, Any]] = data["positions"]
        return positions

    async def _get_json(self, path: str, query: dict[str, str | int]) -> dict[str, Any]:
        base = self.service_url or lookup_endpoint("signals")
        if base is None:
            raise LookupError("no signals service URL: pass service_url or set TITAN_SIGNALS_URL")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.call_timeout)
        # Reads may be closed (TITAN_API_TOKEN_READS): send the deployment's token, as the
        # other clients do.
        token = resolve_api_token(titan_home())
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
        response = await self._http.get(base.rstrip("/") + path, params=query, headers=headers)
        if response.status_code >= 400:
            raise ValueError(f"GET {path} -> {response.status_code}: {response.text[:500]}")
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self._runner.close(self._shutdown)

    async def _shutdown(self) -> None:
        try:
            await self.source.stop()
        finally:
            if self._http is not None:
                await self._http.aclose()

    def __enter__(self) -> BlockingSignalClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
