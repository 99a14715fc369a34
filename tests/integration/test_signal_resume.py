"""Resuming signals.v1 from a stream position on a real broker: nothing lost, nothing repeated.

A `SignalSubscriber` hands out `position()` (partition -> next offset); a new one started
from it reads exactly what came after, past watermark records and undecodable ones too, and
clamps offsets the broker no longer (or never) had into the log. The console's SSE stream
serves the same position as event ids, so a browser reconnecting with Last-Event-ID gets
the signals published while it was away (the console app in process, on the real broker).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.records_to_delete import RecordsToDelete
from pydantic import SecretStr

from services.console.bootstrap import build
from services.console.gateway import Upstream
from services.signals.client import SignalSubscriber
from shared.events import SignalEmitted, make_envelope
from shared.runtime.auth import BearerAuth
from shared.runtime.http import HttpServer
from shared.runtime.metrics import RuntimeMetrics
from shared.runtime.watermarks import watermark_record
from shared.topics import SIGNALS
from titan.client import Titan
from titan.client.signals import format_position, parse_position

pytestmark = pytest.mark.integration

T0 = datetime(2024, 1, 2, tzinfo=UTC)
QUIET_S = 2.0  # a poll this long that brings nothing: nothing more is coming
# What to publish: a signal's number, "watermark" or "junk" (an undecodable record), each
# on an explicit partition so every partition's content is known.
Item = tuple[int, int | str]


def signal_bytes(n: int) -> bytes:
    payload = SignalEmitted(
        signal_id=str(uuid.uuid5(uuid.NAMESPACE_OID, f"resume-{n}")), pair_id="KO~PEP",
        action="close", reason=f"resume test {n}", bar_time=T0 + timedelta(days=n),
        z_score=0.1, hedge_ratio=1.0, params_version="resume-test", legs=[],
    )  # fmt: skip
    envelope = make_envelope(payload, event_id=uuid.UUID(payload.signal_id), occurred_at=payload.bar_time,
                             key=payload.pair_id, producer="test-resume", produced_at=T0)  # fmt: skip
    return envelope.to_bytes()


async def publish(bootstrap: str, topic: str, items: Sequence[Item]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, what in items:
            if what == "watermark":
                mark = watermark_record(topic, partition, 1_700_000_000_000_000, "test-resume")
                await producer.send_and_wait(topic, mark.value, key=(mark.key or "").encode(),
                                             partition=partition, headers=list(mark.headers))  # fmt: skip
            elif what == "junk":
                await producer.send_and_wait(topic, b"not an envelope", partition=partition)
            else:
                assert isinstance(what, int)
                await producer.send_and_wait(topic, signal_bytes(what), partition=partition)
    finally:
        await producer.stop()


async def read_until_quiet(sub: SignalSubscriber, max_records: int = 500) -> list[int]:
    """Signal numbers polled until a poll of QUIET_S brings nothing."""
    got: list[int] = []
    while batch := await sub.poll(max_records, QUIET_S):
        got += [int(e.payload.reason.rsplit(" ", 1)[1]) for e in batch]
    return got


async def log_ends(sub: SignalSubscriber) -> dict[int, int]:
    consumer = sub.consumer
    assert consumer is not None
    ends = await consumer.end_offsets(sorted(consumer.assignment(), key=lambda t: t.partition))
    return {tp.partition: offset for tp, offset in ends.items()}


async def test_a_subscriber_from_a_position_gets_exactly_what_came_after(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]]
) -> None:
    topics = await make_topics()
    topic = topics[SIGNALS.name]
    # Partition 2 holds only watermark records; partition 1 an undecodable record.
    first: list[Item] = [(0, 0), (0, 1), (0, 2), (0, "watermark"), (0, 3), (1, 4), (1, "junk"),
                         (1, 5), (1, 6), (2, "watermark"), (2, "watermark")]  # fmt: skip
    await publish(kafka_bootstrap, topic, first)
    reader = SignalSubscriber(kafka_bootstrap, topic_prefix=topics.prefix, start="beginning")
    async with reader:
        before: list[int] = []
        for _ in range(20):  # small polls: the position is taken inside partitions
            before += [int(e.payload.reason.rsplit(" ", 1)[1]) for e in await reader.poll(3, 5.0)]
            if len(before) >= 4:
                break
        assert 4 <= len(before) < 10, before
        position = await reader.position()
    assert sorted(position) == [0, 1, 2]  # every partition, read or not
    later: list[Item] = [(0, 7), (0, "watermark"), (1, 8), (2, 9), (2, "watermark")]
    await publish(kafka_bootstrap, topic, later)
    resumed = SignalSubscriber(kafka_bootstrap, topic_prefix=topics.prefix, start=position)
    async with resumed:
        assert await resumed.position() == position
        after = await read_until_quiet(resumed)
        # Past every record, watermarks at the partitions' ends and the junk included.
        assert await resumed.position() == await log_ends(resumed) == {0: 7, 1: 5, 2: 4}
    assert len(after) == len(set(after)), f"repeated within the resumed read: {after}"
    assert not set(before) & set(after), f"read twice: {set(before) & set(after)}"
    assert sorted(before + after) == list(range(10)), "lost signals"


async def test_the_iterators_position_stops_short_of_signals_it_holds_unread(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]]
) -> None:
    topics = await make_topics()
    await publish(kafka_bootstrap, topics[SIGNALS.name], [(n % 3, n) for n in range(9)])
    taken: list[int] = []
    async with SignalSubscriber(
        kafka_bootstrap, topic_prefix=topics.prefix, start="beginning"
    ) as reader:
        async for envelope in reader:  # one poll fetches more than the loop takes
            taken.append(int(envelope.payload.reason.rsplit(" ", 1)[1]))
            if len(taken) == 4:
                break
        position = await reader.position()
    async with SignalSubscriber(
        kafka_bootstrap, topic_prefix=topics.prefix, start=position
    ) as resumed:
        rest = await read_until_quiet(resumed)
    assert sorted(taken + rest) == list(range(9)) and not set(taken) & set(rest)


async def test_offsets_outside_the_log_are_clamped_and_unnamed_partitions_read_whole(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]]
) -> None:
    topics = await make_topics()
    topic = topics[SIGNALS.name]
    await publish(kafka_bootstrap, topic, [(0, 0), (0, 1), (0, 2), (1, 3), (1, 4), (1, 5),
                                           (2, 6), (2, 7)])  # fmt: skip
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:  # retention, in effect: partition 1 now starts at offset 2
        await admin.delete_records({TopicPartition(topic, 1): RecordsToDelete(2)})
    finally:
        await admin.close()
    # Left to aiokafka's out-of-range reset, a position past the end would re-read all of
    # partition 0 under "earliest" and one before the log start skip all of 1 under "latest".
    start = {0: 10**6, 1: 0}  # partition 2 unnamed
    async with SignalSubscriber(kafka_bootstrap, topic_prefix=topics.prefix, start=start) as sub:
        assert await sub.position() == {0: 3, 1: 2, 2: 0}
        assert sorted(await read_until_quiet(sub)) == [5, 6, 7]
        await publish(kafka_bootstrap, topic, [(0, 8)])
        assert await read_until_quiet(sub) == [8]


def resume_through_the_client(bootstrap: str, prefix: str, saved: str) -> tuple[list[int], str]:
    """What `titan.client` users do: keep the position as text, resume from it later."""
    with (
        Titan(kafka_bootstrap=bootstrap, topic_prefix=prefix) as t,
        t.signals.subscribe(from_=parse_position(saved)) as subscription,
    ):
        got: list[int] = []
        while batch := subscription.poll(500, timeout=QUIET_S):
            got += [int(s.reason.rsplit(" ", 1)[1]) for s in batch]
        return got, format_position(subscription.position())


async def test_the_titan_client_resumes_from_a_saved_position(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]]
) -> None:
    topics = await make_topics()
    topic = topics[SIGNALS.name]
    await publish(kafka_bootstrap, topic, [(0, 0), (1, 1), (2, "watermark")])
    async with SignalSubscriber(
        kafka_bootstrap, topic_prefix=topics.prefix, start="beginning"
    ) as reader:
        assert sorted(await read_until_quiet(reader)) == [0, 1]
        saved = format_position(await reader.position())
    assert saved == "0:1,1:1,2:1"
    await publish(kafka_bootstrap, topic, [(1, 2), (2, 3)])
    got, now = await asyncio.to_thread(
        resume_through_the_client, kafka_bootstrap, topics.prefix, saved
    )
    assert sorted(got) == [2, 3] and now == "0:1,1:2,2:2"


# -- the console's SSE stream ------------------------------------------------------------


async def sse_events(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def next_event(events: AsyncIterator[dict[str, str]]) -> dict[str, str]:
    return await asyncio.wait_for(anext(events), 20)


async def signals_until(
    events: AsyncIterator[dict[str, str]], count: int
) -> tuple[list[int], str | None]:
    """`count` signal numbers and the id of the last signal event."""
    got: list[int] = []
    last_id: str | None = None
    while len(got) < count:
        event = await next_event(events)
        assert event["event"] == "signal", event
        got.append(int(json.loads(event["data"])["reason"].rsplit(" ", 1)[1]))
        last_id = event.get("id")
    return got, last_id


async def test_the_console_stream_resumes_from_the_browsers_last_event_id(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]]
) -> None:
    topics = await make_topics()
    topic = topics[SIGNALS.name]
    await publish(kafka_bootstrap, topic, [(0, 0), (1, 1)])  # before: not on a new stream
    upstream = Upstream(urls={"signals": "http://127.0.0.1:9"})
    upstream.addresses.kafka_bootstrap = kafka_bootstrap
    upstream.addresses.topic_prefix = topics.prefix
    app = build(upstream, RuntimeMetrics("console"), BearerAuth(SecretStr("t" * 40)))
    server = HttpServer(app, "127.0.0.1", 0)
    port = await server.start()
    stream = f"http://127.0.0.1:{port}/api/signals/stream"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            async with http.stream("GET", stream) as response:
                events = sse_events(response)
                ready = await next_event(events)
                assert ready["event"] == "ready" and ready["id"] == "0:1,1:1,2:0"
                await publish(kafka_bootstrap, topic, [(0, 2), (2, "watermark"), (1, 3), (2, 4)])
                seen, last_id = await signals_until(events, 3)
            assert sorted(seen) == [2, 3, 4] and last_id == "0:2,1:2,2:2"  # past the watermark
            # The browser is away; two signals are published meanwhile.
            await publish(kafka_bootstrap, topic, [(0, 5), (2, "junk"), (2, 6)])
            async with http.stream("GET", stream, headers={"Last-Event-ID": last_id}) as response:
                events = sse_events(response)
                assert (await next_event(events))["id"] == last_id
                missed, _ = await signals_until(events, 2)
                assert sorted(missed) == [5, 6]
                with pytest.raises(TimeoutError):  # and nothing it already had
                    await asyncio.wait_for(anext(events), QUIET_S)
            # From the first `ready` (a drop before any id): all five, which the page dedupes.
            async with http.stream(
                "GET", stream, params={"last_event_id": ready["id"]}
            ) as response:
                events = sse_events(response)
                await next_event(events)
                again, _ = await signals_until(events, 5)
                assert sorted(again) == [2, 3, 4, 5, 6]
            bad = await http.get(stream, headers={"Last-Event-ID": "0:2,1:two"})
            assert bad.status_code == 400 and "'1:two' is not partition:offset" in bad.text
    finally:
        upstream.closing.set()
        await server.stop()
        await upstream.aclose()
