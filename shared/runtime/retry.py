"""Retry with backoff for failures that can pass (database or broker down): never skip."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    NodeNotReadyError,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
)

# 0.1 s first: a broker leader election or a PostgreSQL restart is usually over in well under
# a second. 10 s cap: long outages are waited out without busy-looping, and recovery is seen
# within 10 s of the outage ending.
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 10.0


def is_transient(exc: BaseException) -> bool:
    # Kafka marks the errors a client should retry (a topic's metadata not there yet after a
    # broker restart, a leader moving): a 20 s broker outage raised UnknownTopicOrPartition
    # while publishing the outbox, which killed pairs and regime.
    if isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False)):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


async def retry_transient(
    what: str,
    action: Callable[[], Awaitable[T]],
    *,
    on_retry: Callable[[BaseException], Awaitable[None]] | None = None,
    stop: asyncio.Event | None = None,
    max_attempts: int | None = None,
) -> T:
    """Run `action` until it succeeds; transient errors back off and retry, others raise."""
    delay = INITIAL_BACKOFF_S
    attempt = 0
    while True:
        attempt += 1
        try:
            return await action()
        except BaseException as exc:
            if not is_transient(exc) or (max_attempts is not None and attempt >= max_attempts):
                raise
            if stop is not None and stop.is_set() and attempt > 3:
                raise
            log.warning(
                "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
            )
            if on_retry is not None:
                await on_retry(exc)
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, MAX_BACKOFF_S)
