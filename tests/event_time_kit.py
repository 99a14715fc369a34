"""The runtime's event-time release, driven without a broker: for domain and handler tests.

`released_batches` plays the consumer side of contract rule 7 over one arrival order: items
arrive on partitions in batches, each partition's watermark follows its own latest event
time (a producer that sends in time order), and after every batch the `EventTimeJoin`
releases what every partition has passed. The end of input releases the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from shared.runtime.watermarks import END_OF_INPUT_US, EventTimeJoin, Timed, to_us

T = TypeVar("T")
TOPIC = "kit.topic"


def released_batches(
    arrivals: Sequence[tuple[int, T]],
    order: Callable[[T], tuple[datetime, tuple[Any, ...]]],
    batch: int,
    *,
    lag: int = 1,
) -> list[list[T]]:
    """`arrivals`: (partition, item) in arrival order, each partition in event-time order.
    A partition's watermark trails its latest event time by `lag` distinct times, so items
    of one time may arrive in separate batches."""
    partitions = sorted({p for p, _ in arrivals})
    join = EventTimeJoin(frozenset({TOPIC}))
    assigned = [(TOPIC, p) for p in partitions]
    seen: dict[int, list[int]] = {p: [] for p in partitions}
    out: list[list[T]] = []
    for start in range(0, len(arrivals), batch):
        chunk = arrivals[start : start + batch]
        timed = []
        for n, (partition, item) in enumerate(chunk, start=start):
            when, tiebreak = order(item)
            us = to_us(when)
            if not seen[partition] or seen[partition][-1] != us:
                seen[partition].append(us)
            timed.append(Timed(us, 0, tiebreak, str(n), TOPIC, partition, n, item, b""))
        join.add(timed, join.input_watermark(assigned))
        marks = {(TOPIC, p): times[-1 - lag] for p, times in seen.items() if len(times) > lag}
        join.observe(marks)
        out.append([t.item for t in join.release(join.input_watermark(assigned)).items])
    join.observe({(TOPIC, p): END_OF_INPUT_US for p in partitions})
    out.append([t.item for t in join.release(join.input_watermark(assigned)).items])
    return [b for b in out if b]
