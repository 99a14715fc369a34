"""One asyncio event loop in one daemon thread, for synchronous clients.

The blocking clients (`titan.client.Titan`, `services.signals.client.BlockingSignalClient`)
hand every call to this loop (`asyncio.run_coroutine_threadsafe`) rather than starting a loop
per call: their connections (HTTP pools, Kafka consumers) belong to one loop for their whole
life, and they work from plain threads, from many threads at once, and from code that is
itself inside a running loop (async Django calling sync code, Jupyter).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
CLOSE_TIMEOUT_S = 10.0


class LoopThread:
    """`run` executes a coroutine on the loop thread and waits for its result.

    `closed` and `timed_out` make the caller's own exceptions (each client has its own error
    types); `own_thread` is the message when a call comes from the loop thread itself, where
    waiting would deadlock."""

    def __init__(
        self,
        name: str,
        *,
        closed: Callable[[], Exception],
        timed_out: Callable[[float | None], Exception],
        own_thread: str,
    ) -> None:
        self._closed_error, self._timeout_error = closed, timed_out
        self._own_thread = own_thread
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), name=name, daemon=True)
        self.thread.start()
        ready.wait()
        self._closed = False
        self._lock = threading.Lock()

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def run(self, factory: Callable[[], Coroutine[Any, Any, T]], timeout: float | None) -> T:
        if threading.current_thread() is self.thread:
            raise RuntimeError(self._own_thread)
        with self._lock:
            if self._closed:
                raise self._closed_error()
            future = asyncio.run_coroutine_threadsafe(factory(), self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self._timeout_error(timeout) from None

    def close(self, last: Callable[[], Coroutine[Any, Any, None]] | None = None) -> None:
        """Run `last` (the client's own clean-up) on the loop, then stop the loop; idempotent.
        Never raises over the caller's own error: a failed clean-up is logged."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if threading.current_thread() is self.thread:
            raise RuntimeError("close the client from outside its callbacks")
        try:
            if last is not None:
                asyncio.run_coroutine_threadsafe(last(), self.loop).result(CLOSE_TIMEOUT_S)
            asyncio.run_coroutine_threadsafe(
                self.loop.shutdown_default_executor(), self.loop
            ).result(CLOSE_TIMEOUT_S)
        except Exception as exc:  # closing must not hide the caller's own error
            log.warning("%s did not shut down cleanly: %s", self.thread.name, exc)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(CLOSE_TIMEOUT_S)
            if not self.thread.is_alive():
                self.loop.close()
