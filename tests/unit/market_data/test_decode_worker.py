"""The decode worker process gives the in-process verdicts, and failing never changes them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.market_data import decode_worker
from services.market_data.decode_worker import DecodeWorker
from services.market_data.domain import TickLimits, decode_ticks
from services.market_data.handlers import MarketData, _PendingTicks
from shared.runtime.records import ConsumedRecord

from .test_validation import CLOCK
from .ticks_factory import T0, tick_bytes

LIMITS = TickLimits(max_price=1e4)


def _batch(n: int = 1200) -> list[bytes]:
    """Valid ticks with every 50th record broken in one of several ways."""
    broken = [
        b"not json",
        tick_bytes().replace(b"187.25", b"NaN"),
        tick_bytes().replace(b'"AAPL"', b'"bad symbol"'),
        tick_bytes(price=2e4),  # above LIMITS.max_price
        tick_bytes(ts=CLOCK.now() + timedelta(hours=2)),  # in the future
        tick_bytes().replace(b'"size":100.0', b'"size":-1.0'),
    ]
    out = []
    for i in range(n):
        if i % 50 == 7:
            out.append(broken[(i // 50) % len(broken)])
        else:
            out.append(tick_bytes(trade_id=f"t{i}", ts=T0 + timedelta(milliseconds=i)))
    return out


async def _wait_ready(worker: DecodeWorker) -> None:
    deadline = time.monotonic() + 30  # a cold interpreter start on a loaded CI machine
    while not worker.is_ready():
        assert time.monotonic() < deadline, "the decode worker did not start in 30 s"
        await asyncio.sleep(0.02)


@pytest.fixture
async def worker() -> AsyncIterator[DecodeWorker]:
    w = DecodeWorker(LIMITS)
    w.start()
    await _wait_ready(w)
    yield w
    w.close()


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z":
            return True  # exited, waiting to be reaped by its parent
        time.sleep(0.05)
    return False


async def test_worker_verdicts_equal_the_in_process_ones(worker: DecodeWorker) -> None:
    values = _batch()
    answer = worker.submit(values, CLOCK.now())
    assert answer is not None
    got = await worker.collect(answer, values, CLOCK.now())
    expected = decode_ticks(values, CLOCK, LIMITS)
    assert got == expected
    assert len(got[1]) == 24 and len(got[0]) == 1200 - 24
    assert worker.fallbacks == 0


async def test_small_batches_stay_in_process(worker: DecodeWorker) -> None:
    assert worker.submit(_batch(decode_worker.MIN_RECORDS - 1), CLOCK.now()) is None


async def test_a_killed_worker_is_replaced_by_the_in_process_decode(worker: DecodeWorker) -> None:
    values = _batch()
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    assert _gone(pid, 10)
    answer = worker.submit(values, CLOCK.now())
    if answer is not None:  # it may not have noticed the exit yet
        got = await worker.collect(answer, values, CLOCK.now())
        assert worker.fallbacks == 1
    else:
        got = decode_ticks(values, CLOCK, LIMITS)
    assert got == decode_ticks(values, CLOCK, LIMITS)
    # Restarts are throttled: the next batch decodes in-process rather than wait for one.
    assert worker.submit(values, CLOCK.now()) is None


async def test_a_hung_worker_is_replaced_and_the_batch_decodes_in_process(
    worker: DecodeWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(decode_worker, "SEND_TIMEOUT_S", 0.5)
    monkeypatch.setattr(decode_worker, "ANSWER_TIMEOUT_S", 0.5)
    values = _batch()
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        # Either the request does not fit the socket's buffer and its send times out, or
        # it does and the answer times out: both replace the worker.
        answer = worker.submit(values, CLOCK.now())
        if answer is not None:
            got = await worker.collect(answer, values, CLOCK.now())
            assert got == decode_ticks(values, CLOCK, LIMITS)
            assert worker.fallbacks == 1
    finally:
        with contextlib.suppress(ProcessLookupError):  # replacing it killed it
            os.kill(pid, signal.SIGCONT)
    assert worker.pid is None  # replaced, not reused
    assert _gone(pid, 10)


async def test_market_data_decode_hands_big_batches_to_the_worker(worker: DecodeWorker) -> None:
    values: list[bytes | None] = [*_batch(), None]
    # Records keyed other than their symbol, in the in-process share and the worker's.
    misplaced = {3, 600, 1100}
    records = [
        ConsumedRecord("p.market.ticks.v1", 0, i, b"MSFT" if i in misplaced else b"AAPL", v, 0, ())
        for i, v in enumerate(values)
    ]
    svc = MarketData.__new__(MarketData)
    svc.clock, svc.limits, svc.worker = CLOCK, LIMITS, worker
    pending = svc.decode(records)
    assert isinstance(pending, _PendingTicks)
    accepted, dead = await pending.result()
    svc.worker = None
    in_process = svc.decode(records)
    assert (accepted, dead) == in_process
    assert dead[0] == (records[-1], "empty record value (tombstone) is not a tick")
    wrong_key = "record key 'MSFT' is not the event's key 'AAPL'"
    assert sorted(r.offset for r, why in dead if why == wrong_key) == sorted(misplaced)
    assert len(accepted[0].accepted) == len(values) - len(dead)


def test_the_worker_exits_when_its_service_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(
        "import asyncio\n"
        "from services.market_data.decode_worker import DecodeWorker\n"
        "from services.market_data.domain import TickLimits\n"
        "async def main():\n"
        "    w = DecodeWorker(TickLimits())\n"
        "    w.start()\n"
        "    while not w.is_ready():\n"
        "        await asyncio.sleep(0.02)\n"
        "    print(w.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    # The project's root on the path: the script lives in tmp_path, and the project need
    # not be pip-installed for its tests to run.
    root = str(Path(__file__).resolve().parents[3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    service = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert service.stdout is not None
        worker_pid = int(service.stdout.readline())  # printed once it answered READY
        service.kill()
        service.wait()
        # Its end of the pipe closes with the service: the worker reads EOF and returns.
        assert _gone(worker_pid, 15), "the decode worker outlived its killed service"
    finally:
        if service.poll() is None:
            service.kill()


async def test_the_worker_share_follows_whether_its_answer_was_in_when_the_batch_was_needed(
    worker: DecodeWorker,
) -> None:
    records = [
        ConsumedRecord("p.market.ticks.v1", 0, i, b"AAPL", v, 0, ())
        for i, v in enumerate(_batch(2000))
    ]
    svc = MarketData.__new__(MarketData)
    svc.clock, svc.limits, svc.worker = CLOCK, LIMITS, worker
    start = worker.share(1000)

    late = svc.decode(records)
    assert isinstance(late, _PendingTicks)
    late.needed()  # wanted at once: the worker cannot have answered yet
    await late.result()
    assert worker.share(1000) == start - 20

    early = svc.decode(records)
    assert isinstance(early, _PendingTicks)
    await asyncio.wait_for(asyncio.shield(early.answer), timeout=30)
    early.needed()  # the answer came in before the batch was wanted
    await early.result()
    collected_ahead = svc.decode(records)  # collected before it is wanted, never marked late
    assert isinstance(collected_ahead, _PendingTicks)
    await collected_ahead.result()
    assert worker.share(1000) == start + 20
