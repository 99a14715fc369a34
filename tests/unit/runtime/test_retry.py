"""Which failures pass (retried with backoff) and which do not (raised)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import (
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from shared.runtime import retry
from shared.runtime.retry import is_transient, retry_transient


def test_kafka_errors_the_protocol_marks_retriable_are_transient() -> None:
    # A broker restart: metadata for the topic is not there yet, or its leader moved.
    assert is_transient(UnknownTopicOrPartitionError())
    assert is_transient(NotLeaderForPartitionError())
    assert not is_transient(TopicAuthorizationFailedError())  # waiting will not fix it
    assert not is_transient(ValueError("a bug"))


def test_a_retriable_failure_is_retried_until_it_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "INITIAL_BACKOFF_S", 0.001)
    failures = [UnknownTopicOrPartitionError(), UnknownTopicOrPartitionError()]

    async def publish() -> str:
        if failures:
            raise failures.pop()
        return "sent"

    assert asyncio.run(retry_transient("publish", publish)) == "sent"
    assert failures == []
