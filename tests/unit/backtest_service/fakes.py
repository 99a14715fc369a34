"""In-memory outbox and transaction for runner tests (the store fake lives in store.py)."""

from __future__ import annotations

import contextlib
import json
import queue
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from services.backtest.jobs import _init_worker
from shared.runtime.records import OutgoingRecord


class FakeOutbox:
    def __init__(self) -> None:
        self.written: dict[int, list[OutgoingRecord]] = {}
        self.published: list[OutgoingRecord] = []

    async def write(self, conn: Any, records: list[OutgoingRecord]) -> int:
        batch_no = len(self.written) + 1
        self.written[batch_no] = list(records)
        return batch_no

    async def publish(self, batch_no: int, records: list[OutgoingRecord]) -> None:
        assert self.written[batch_no] == list(records)
        self.published.extend(records)

    def events(self, topic_suffix: str) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.published if r.topic.endswith(topic_suffix)]


@contextlib.asynccontextmanager
async def no_transaction() -> AsyncIterator[None]:
    yield None


def thread_pool() -> tuple[Executor, Any]:
    """Same worker entry point and progress queue protocol, in a thread (fast unit tests)."""
    progress: queue.Queue[tuple[str, float]] = queue.Queue()
    return ThreadPoolExecutor(1, initializer=_init_worker, initargs=(progress,)), progress
