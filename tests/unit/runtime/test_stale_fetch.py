"""A fetch that starts below the stored offsets is recognised (and then dropped)."""

from __future__ import annotations

from typing import NamedTuple

from aiokafka import TopicPartition

from shared.runtime.consumer import fetch_behind_stored

TICKS_0 = TopicPartition("market.ticks.v1", 0)
TICKS_1 = TopicPartition("market.ticks.v1", 1)


class Message(NamedTuple):
    offset: int


def batch(first: int, n: int) -> list[Message]:
    return [Message(first + i) for i in range(n)]


def test_a_fetch_from_the_stored_offset_or_past_a_gap_is_fine() -> None:
    stored: dict[tuple[str, int], int | None] = {
        ("market.ticks.v1", 0): 90,
        ("market.ticks.v1", 1): None,
    }
    assert fetch_behind_stored({TICKS_0: batch(90, 15), TICKS_1: batch(0, 3)}, stored) is None
    # Compaction or transaction markers: the first record can lie beyond the stored offset.
    assert fetch_behind_stored({TICKS_0: batch(95, 5)}, stored) is None
    assert fetch_behind_stored({TICKS_0: []}, stored) is None


def test_a_fetch_from_before_the_stored_offset_is_named() -> None:
    stored: dict[tuple[str, int], int | None] = {
        ("market.ticks.v1", 0): 90,
        ("market.ticks.v1", 1): 7,
    }
    assert fetch_behind_stored({TICKS_0: batch(90, 2), TICKS_1: batch(3, 5)}, stored) == (
        TICKS_1,
        3,
        7,
    )
