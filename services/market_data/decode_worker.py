"""Tick decoding in a worker process, alongside the service's event loop.

Why: decoding and validating a tick costs ~4 us of Python, about 40 % of market_data's
ingest time, and the service is otherwise bound to one core. The consumer loop already
decodes batch N+1 while batch N's transaction is in flight (shared/runtime/consumer.py);
with this worker that decode runs on another core while the event loop stores batch N and
aggregates its bars. The worker runs the very same `decode_ticks`, so the verdicts and
values are those of the in-process path (tests/unit/market_data/test_decode_worker.py).

The worker is `python -m services.market_data.decode_worker FD LIMITS` (a fresh interpreter
that imports only the decoder), talking over one end of a socket pair; every message is an
8-byte length and a msgpack body. The worker first sends READY; then, per request, main
sends (now in epoch us, [record values]) and the worker answers ([AcceptedTick],
[Rejection]) or the text of the exception decoding raised. Ids travel as 16 bytes and trade
times as integers, so main rebuilds a tick in ~0.35 us against ~4 us to decode it.

The service hands the worker a share of each batch (`share`) and decodes the rest itself
meanwhile; the share follows whether the worker's answer was in by the time the batch was
needed (the batch before it had committed), batch after batch (`balance`), because the
worker's core is also PostgreSQL's and Kafka's. The request is sent at once, blocking (a
waiting worker reads it in ~1 ms); the answer is read by the event loop
(`loop.sock_recv_into`) in the gaps while it waits for PostgreSQL. (A helper thread doing
the sends was tried first: it needs the GIL back after every ~200 kB the socket takes, and
a busy event loop hands it over only every 5 ms, so a 7 MB request took ~170 ms.) One
request is in flight at a time; one left over from a batch that was dropped (a rebalance)
still has its answer read first. Anything wrong with the worker (it died, it hangs, it is
not started yet) makes the batch decode in-process instead: slower, never different. A
worker that died is started again, at most every RESTART_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Coroutine
from datetime import datetime, timedelta
from typing import Any

import msgspec

from services.market_data.domain.validation import (
    AcceptedTick,
    Rejection,
    TickLimits,
    decode_ticks,
    epoch_us,
    from_epoch_us,
)
from shared.clock import ManualClock
from shared.runtime.gc_tuning import tune_gc_for_batches

log = logging.getLogger(__name__)

READY = b"ready"
# A 20k-record batch decodes in ~0.1 s; an answer 300x later means a hung worker (or a
# machine swapping hard): the batch is decoded in-process and the worker replaced.
ANSWER_TIMEOUT_S = 30.0
# Starting the interpreter and importing the decoder takes ~0.5 s; a worker that dies again
# and again is not restarted more often than this, and batches decode in-process meanwhile.
RESTART_S = 10.0
# Below this many records the socket round trip (~0.2 ms) outweighs what the worker saves.
MIN_RECORDS = 500
# A worker waiting for requests reads a few MB in milliseconds; 5 s of not reading is a hung
# worker, replaced.
SEND_TIMEOUT_S = 5.0
# The worker's share of a batch moves by this step per batch, within these bounds: the ends
# keep both sides busy enough that a change of load shows in the next batches.
WORKER_SHARE_STEP = 0.02
MIN_WORKER_SHARE, MAX_WORKER_SHARE = 0.2, 0.9

TickVerdicts = tuple[list[AcceptedTick], list[Rejection]]
_request = msgspec.msgpack.Encoder()
_read_request = msgspec.msgpack.Decoder(tuple[int, list[bytes]])
_answer = msgspec.msgpack.Encoder(uuid_format="bytes")
_read_answer = msgspec.msgpack.Decoder(tuple[list[AcceptedTick], list[Rejection]] | str)


_LENGTH = struct.Struct(">Q")


def _frame(body: bytes) -> bytes:
    return _LENGTH.pack(len(body)) + body


def _recv_exactly(sock: socket.socket, n: int) -> bytearray:
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:])
        if k == 0:
            raise EOFError("the service closed the socket")
        got += k
    return buf


def serve(sock: socket.socket, limits: TickLimits) -> None:
    """The worker process: decode requests until the service closes the socket or dies."""
    # Ctrl-C reaches the whole process group; the service decides when its worker stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_gc_for_batches()  # as in the service: a batch's objects are not traversed as they age
    sock.sendall(_frame(READY))
    while True:
        try:
            (n,) = _LENGTH.unpack(_recv_exactly(sock, _LENGTH.size))
            request = _recv_exactly(sock, n)
        except (EOFError, OSError):
            return  # the service closed the socket, or died: nothing is left to do
        now_us, values = _read_request.decode(request)
        del request
        try:
            accepted, rejected = decode_ticks(values, ManualClock(from_epoch_us(now_us)), limits)
            answer = _answer.encode((accepted, rejected))
        except Exception as exc:  # the in-process retry raises it again, in the batch
            answer = _answer.encode(f"{type(exc).__name__}: {exc}")
        del values
        try:
            sock.sendall(_frame(answer))
        except OSError:
            return


def limits_arg(limits: TickLimits) -> str:
    return json.dumps({
        "max_price": limits.max_price,
        "max_relative_jump": limits.max_relative_jump,
        "max_future_s": limits.max_future.total_seconds(),
    })  # fmt: skip


def limits_from_arg(text: str) -> TickLimits:
    data = json.loads(text)
    return TickLimits(
        max_price=data["max_price"],
        max_relative_jump=data["max_relative_jump"],
        max_future=timedelta(seconds=data["max_future_s"]),
    )


class DecodeWorker:
    """The service's side of the worker: start, submit, collect (with in-process fallback).

    Used from the service's event loop thread only."""

    def __init__(self, limits: TickLimits) -> None:
        self.limits = limits
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready: asyncio.Task[bytearray] | None = None
        self._last: asyncio.Task[bytearray] | None = None  # the last request's round trip
        self._started_at = -RESTART_S
        self._worker_share = 0.5
        self.fallbacks = 0  # batches decoded in-process after a worker failure

    def start(self) -> None:
        """Launch the worker; call from the event loop (its READY is awaited there)."""
        ours, theirs = socket.socketpair()
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), limits_arg(self.limits)],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                # The service's own import path (as multiprocessing's spawn does), so the
                # worker finds this very code however the service was started.
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p or os.getcwd() for p in sys.path)},
            )  # fmt: skip
        ours.setblocking(False)
        self._process, self._sock = process, ours
        self._ready = self._task(self._recv_frame(ours))
        self._last = None
        self._started_at = time.monotonic()

    def close(self) -> None:
        """Stop the worker: closing the socket ends its loop; a stuck one is killed."""
        process, sock = self._process, self._sock
        tasks = (self._ready, self._last)
        self._process = self._sock = self._ready = self._last = None
        for task in tasks:
            if task is not None:
                task.cancel()
        if sock is not None:
            # Unregister from the loop before the fd number can be reused by a new socket.
            with contextlib.suppress(RuntimeError):
                loop = asyncio.get_running_loop()
                loop.remove_reader(sock.fileno())
                loop.remove_writer(sock.fileno())
            sock.close()
        if process is not None:
            try:
                process.wait(timeout=2.0)  # it exits at once on EOF; 2 s is for a busy one
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def is_ready(self) -> bool:
        """Started and answering (its READY came back)."""
        ready = self._ready
        return (
            ready is not None
            and ready.done()
            and not ready.cancelled()
            and ready.exception() is None
            and ready.result() == READY
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def submit(self, values: list[bytes], now: datetime) -> asyncio.Task[bytearray] | None:
        """Hand the values to the worker; None when it cannot take them (decode here)."""
        if len(values) < MIN_RECORDS or not self._usable():
            return None
        sock = self._sock
        assert sock is not None
        request = _frame(_request.encode((epoch_us(now), values)))
        # Sent before returning, blocking: the caller decodes its own share of the batch
        # next, without yielding to the event loop, and the worker must have all of its
        # share by then. The worker waits for requests, so this is one copy through the
        # kernel (~1 ms for a few MB); SEND_TIMEOUT_S bounds it should the worker hang.
        try:
            sock.settimeout(SEND_TIMEOUT_S)
            sock.sendall(request)
        except OSError as exc:
            log.warning("decode worker does not take requests (%s); replacing it", exc)
            self.close()
            return None
        finally:
            if self._sock is not None:
                sock.setblocking(False)
        self._last = self._task(self._recv_frame(sock))
        return self._last

    def share(self, n: int) -> int:
        """How many of a batch's n records to hand to the worker; the caller decodes the
        rest itself meanwhile. Adjusted batch by batch so both finish together (see
        `balance`): the worker shares its core with PostgreSQL and Kafka, whose load varies."""
        return round(n * self._worker_share)

    def balance(self, worker_was_late: bool) -> None:
        """The service needed a batch before the worker's answer was in: give the worker
        less next time; the answer was in first: give it more."""
        step = -WORKER_SHARE_STEP if worker_was_late else WORKER_SHARE_STEP
        self._worker_share = min(MAX_WORKER_SHARE, max(MIN_WORKER_SHARE, self._worker_share + step))

    async def collect(
        self, answer: asyncio.Task[bytearray], values: list[bytes], now: datetime
    ) -> TickVerdicts:
        """The worker's verdicts on `values`, or the in-process ones if it failed."""
        try:
            data = await asyncio.wait_for(asyncio.shield(answer), ANSWER_TIMEOUT_S)
            verdicts: TickVerdicts | str = _read_answer.decode(data)
        except (
            EOFError,
            OSError,
            TimeoutError,
            asyncio.CancelledError,
            msgspec.DecodeError,
        ) as exc:
            if isinstance(exc, asyncio.CancelledError) and not answer.cancelled():
                raise  # the service is stopping: this batch is not processed at all
            log.warning("decode worker failed (%s: %s); decoding in-process and replacing it",
                        type(exc).__name__, exc)  # fmt: skip
            self.fallbacks += 1
            self.close()
            return decode_ticks(values, ManualClock(now), self.limits)
        if isinstance(verdicts, str):
            log.warning("decode worker raised %s; decoding in-process", verdicts)
            self.fallbacks += 1
            return decode_ticks(values, ManualClock(now), self.limits)
        return verdicts

    @staticmethod
    async def _recv_frame(sock: socket.socket) -> bytearray:
        (n,) = _LENGTH.unpack(await DecodeWorker._recv_exactly(sock, _LENGTH.size))
        return await DecodeWorker._recv_exactly(sock, n)

    @staticmethod
    async def _recv_exactly(sock: socket.socket, n: int) -> bytearray:
        """The event loop's twin of the worker's _recv_exactly."""
        loop = asyncio.get_running_loop()
        buf = bytearray(n)
        view, got = memoryview(buf), 0
        while got < n:
            k = await loop.sock_recv_into(sock, view[got:])
            if k == 0:
                raise EOFError("the decode worker closed its socket")
            got += k
        return buf

    @staticmethod
    def _task(coro: Coroutine[Any, Any, bytearray]) -> asyncio.Task[bytearray]:
        task = asyncio.get_running_loop().create_task(coro)
        # Nobody may await a dropped batch's answer; its failure must not be logged as lost.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    def _usable(self) -> bool:
        if self._process is None or self._process.poll() is not None:
            if self._process is not None:
                log.warning("decode worker exited with %s", self._process.returncode)
                self.close()
            if time.monotonic() - self._started_at < RESTART_S:
                return False
            self.start()
        if not self.is_ready():
            if self._ready is not None and self._ready.done():
                self.close()  # it answered something else than READY, or failed
            return False  # or still starting: its interpreter and imports take ~0.5 s
        # One request at a time: one left over from a dropped batch is answered first.
        return self._last is None or self._last.done()


def main(argv: list[str]) -> None:
    fd, limits = argv
    serve(socket.socket(fileno=int(fd)), limits_from_arg(limits))


if __name__ == "__main__":
    main(sys.argv[1:])


async def worker_lifetime(worker: DecodeWorker | None) -> None:
    """Run the worker (if any) until cancelled: a background job of the service."""
    if worker is not None:
        worker.start()
    try:
        await asyncio.Event().wait()
    finally:
        if worker is not None:
            worker.close()
