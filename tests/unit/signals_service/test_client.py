"""BlockingSignalClient: one background loop, safe from plain threads, from inside a running
event loop and from many threads at once; threads and sockets released, also after errors."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from services.signals.client import BlockingSignalClient, SignalSource, SignalSubscriber
from shared.events import Envelope, SignalEmitted, make_envelope
from tests.unit.signals_service.builders import T0, bar


def signal_envelope(i: int) -> Envelope[SignalEmitted]:
    payload = SignalEmitted(
        signal_id=str(uuid.uuid5(uuid.NAMESPACE_OID, str(i))),
        pair_id="AAA~BBB",
        action="close",
        reason="test",
        bar_time=bar(i),
        z_score=0.1,
        hedge_ratio=1.0,
        params_version="v",
        legs=[],
    )
    return make_envelope(
        payload,
        event_id=uuid.UUID(payload.signal_id),
        occurred_at=bar(i),
        key="AAA~BBB",
        producer="test",
        produced_at=T0,
    )


class ListSource(SignalSource):
    """Signals from a list; checks it only ever runs on one event loop."""

    def __init__(self, n: int, fail_start: bool = False) -> None:
        self.items = [signal_envelope(i) for i in range(n)]
        self.fail_start = fail_start
        self.loops: set[int] = set()
        self.started = 0
        self.stopped = 0

    async def start(self) -> None:
        self.loops.add(id(asyncio.get_running_loop()))
        if self.fail_start:
            raise ConnectionError("broker unreachable")
        self.started += 1

    async def poll(self, max_records: int, wait_s: float) -> list[Envelope[SignalEmitted]]:
        self.loops.add(id(asyncio.get_running_loop()))
        await asyncio.sleep(0.001)  # yield, so concurrent calls really interleave
        out, self.items = self.items[:max_records], self.items[max_records:]
        return out

    async def stop(self) -> None:
        self.stopped += 1


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_poll_from_a_plain_thread() -> None:
    source = ListSource(5)
    result: list[Any] = []
    with BlockingSignalClient(source) as client:
        t = threading.Thread(target=lambda: result.extend(client.poll(10, 0.1)))
        t.start()
        t.join(10)
    assert [s.bar_time for s in result] == [bar(i) for i in range(5)]
    assert source.started == 1 and source.stopped == 1


async def test_poll_from_inside_a_running_event_loop() -> None:
    source = ListSource(4)
    with BlockingSignalClient(source) as client:
        direct = client.poll(2, 0.1)  # the test's own loop is running in this thread
        via_thread = await asyncio.to_thread(client.poll, 2, 0.1)
    assert len(direct) == 2 and len(via_thread) == 2
    assert len(source.loops) == 1 and id(asyncio.get_running_loop()) not in source.loops


def test_many_threads_at_once_share_one_loop_and_lose_nothing() -> None:
    source = ListSource(400)
    with BlockingSignalClient(source) as client, ThreadPoolExecutor(16) as pool:
        batches = list(pool.map(lambda _: client.poll(7, 0.0), range(80)))
    got = [s.signal_id for batch in batches for s in batch]
    assert len(got) == len(set(got)) == 400
    assert len(source.loops) == 1 and source.started == 1


def test_threads_released_after_close_and_after_errors() -> None:
    threads_before = threading.active_count()
    source = ListSource(0, fail_start=True)
    with (
        pytest.raises(ConnectionError, match="broker unreachable"),
        BlockingSignalClient(source) as client,
    ):
        client.poll(1, 0.0)
    assert threading.active_count() == threads_before
    with pytest.raises(RuntimeError, match="closed"):
        client.poll(1, 0.0)
    client.close()  # idempotent


def test_unreachable_broker_leaves_no_threads_or_sockets() -> None:
    threads_before, fds_before = threading.active_count(), _open_fds()
    client = BlockingSignalClient(kafka="127.0.0.1:9", call_timeout=20.0)
    with pytest.raises(Exception, match=r"(?i)bootstrap|connect"):
        client.poll(1, 0.1)
    client.close()
    assert threading.active_count() == threads_before
    assert _open_fds() <= fds_before


def test_calls_from_the_clients_own_loop_are_refused() -> None:
    with BlockingSignalClient(ListSource(1)) as client:
        future = asyncio.run_coroutine_threadsafe(_call_inside(client), client._runner.loop)
        with pytest.raises(RuntimeError, match="own event-loop thread"):
            future.result(10)


async def _call_inside(client: BlockingSignalClient) -> None:
    client.poll(1, 0.0)


def test_subscriber_rejects_bad_start_and_limits() -> None:
    with pytest.raises(ValueError, match="start must be"):
        SignalSubscriber("127.0.0.1:9", start="yesterday")  # type: ignore[arg-type]
    sub = SignalSubscriber("127.0.0.1:9")
    with pytest.raises(ValueError, match="max_records"):
        asyncio.run(sub.poll(0, 1.0))


def test_subscriber_drops_copies_by_event_id() -> None:
    sub = SignalSubscriber("127.0.0.1:9", dedupe_window=2)
    first, second, third = (signal_envelope(i).to_bytes() for i in range(3))
    accepted = [sub._accept(v) for v in (first, first, second, b"junk", third, first)]
    assert [a is not None for a in accepted] == [True, False, True, False, True, True]
    assert (sub.duplicates, sub.undecodable) == (1, 1)
