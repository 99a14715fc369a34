"""Where a reader of signals.v1 stands: partition -> offset of the next record to read.

A `StreamPosition` is what a subscriber hands back to resume later without losing or
repeating a signal (`SignalSubscriber(start=position)`); its text form `0:12,1:40`
(partition:offset, sorted by partition) is what the console sends as the SSE event id.
Offsets are Kafka's: they count every record of the partition, watermark records and
undecodable ones included, so a position is exact only if it moved past those too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the text form alone (titan.client, the console) needs no Kafka client
    from aiokafka import AIOKafkaConsumer, TopicPartition

StreamPosition = Mapping[int, int]
# Where a subscriber starts: the topic's beginning, its end, a time, or a position.
StartAt = Literal["beginning", "now"] | datetime | StreamPosition
# Kafka's own bounds: partitions are int32, offsets int64. Anything larger cannot be a real
# position and would only fail later, inside the client's request encoding.
MAX_PARTITION = 2**31 - 1
MAX_OFFSET = 2**63 - 1
_ENTRY = re.compile(r"([0-9]+):([0-9]+)")  # ASCII digits only: int() also takes "+3", "1_0"
EXAMPLE = "0:12,1:40"


def checked_position(position: object) -> dict[int, int]:
    """A copy of `position` sorted by partition; ValueError naming the first bad entry."""
    if not isinstance(position, Mapping):
        raise ValueError(
            f"a stream position maps partition -> next offset, got {type(position).__name__}"
        )
    checked: dict[int, int] = {}
    for partition, offset in position.items():
        # bool is an int subclass, but True as a partition or an offset is a caller's bug.
        if not isinstance(partition, int) or isinstance(partition, bool):
            raise ValueError(f"stream position: partition {partition!r} is not an int")
        if not 0 <= partition <= MAX_PARTITION:
            raise ValueError(
                f"stream position: partition {partition} is outside 0..{MAX_PARTITION}"
            )
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise ValueError(
                f"stream position: offset {offset!r} of partition {partition} is not an int"
            )
        if not 0 <= offset <= MAX_OFFSET:
            raise ValueError(
                f"stream position: offset {offset} of partition {partition} is outside "
                f"0..{MAX_OFFSET}"
            )
        checked[partition] = offset
    return dict(sorted(checked.items()))


def format_position(position: StreamPosition) -> str:
    """`{1: 40, 0: 12}` -> `0:12,1:40`."""
    return ",".join(f"{p}:{o}" for p, o in sorted(checked_position(position).items()))


def parse_position(text: str) -> dict[int, int]:
    """`0:12,1:40` -> `{0: 12, 1: 40}`; ValueError saying which entry is wrong and why."""
    if not text.strip():
        raise ValueError(f"empty stream position; expected partition:offset pairs like {EXAMPLE}")
    position: dict[int, int] = {}
    for entry in text.split(","):
        match = _ENTRY.fullmatch(entry.strip())
        if match is None:
            raise ValueError(
                f"{entry.strip()!r} is not partition:offset (non-negative integers); "
                f"expected comma-separated pairs like {EXAMPLE}"
            )
        partition, offset = int(match[1]), int(match[2])
        if partition in position:
            raise ValueError(f"partition {partition} is given twice")
        position[partition] = offset
    return checked_position(position)


def resume_offset(wanted: int | None, log_start: int, log_end: int) -> int:
    """The offset to read a partition from: `wanted` clamped into the log, the log start
    for a partition the position does not name.

    Past the end means the end (nothing newer was missed; a larger offset is another
    topic's, e.g. one deleted and created again). Before the log start means the start:
    retention deleted what came between, the rest is still owed. A partition absent from
    the position was not assigned when the position was taken, so its reader read none
    of it: all of it is still owed (partitions are only ever added, never removed).
    """
    if wanted is None:
        return log_start
    return min(max(wanted, log_start), log_end)


async def seek_to_position(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], position: StreamPosition
) -> None:
    """Seek each partition to its resume offset, clamped with the broker's log bounds.

    Clamped here and not left to the out-of-range reset: that reset has one direction for
    both cases (auto_offset_reset), so a position past the end would re-read the whole
    partition under "earliest" and one before the log start skip everything under "latest".
    """
    if not partitions:
        return
    log_start = await consumer.beginning_offsets(partitions)
    log_end = await consumer.end_offsets(partitions)
    for tp in partitions:
        consumer.seek(tp, resume_offset(position.get(tp.partition), log_start[tp], log_end[tp]))
