"""Event time for the whole pipeline (contract rule 7): watermarks and the event-time join.

A watermark W on a partition is the producer's promise: no event with event time <= W will
come on that partition any more. Producers send one as a control record to every partition
of a topic whenever their progress advances (so idle partitions and quiet streams move on
too); the end of a finite input is the watermark END_OF_INPUT. Watermark records carry the
header `titan.watermark`; the runtime takes them out before any decoder sees the batch.

`EventTimeJoin` is the pure half of a consumer's alignment: events of aligned inputs wait
until the input watermark (the minimum over every assigned partition of every aligned
input) has passed their time, and are then released in one total order, (event time, route
rank, the route's own tiebreak, event id), that depends only on their content. Each release
is therefore the next slice of one sorted sequence, whatever the arrival order, batching or
restarts, which is what makes a service's output a function of its input events.

A topic may have several writers of each partition (regime: the market scope's owner and the
owner of the partition's pair scopes). Each writer's watermark covers only its own events, so
it names its *source*, and a partition's watermark is the minimum over the sources the topic
declares (`TopicSpec.watermark_sources`), none until every one was heard: Flink's minimum over
input channels. Watermarks of one source are kept under the key `topic#source`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.runtime.records import OutgoingRecord

WATERMARK_HEADER = "titan.watermark"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 9999-12-31T23:59:59.999999Z: the end of a finite input (a replay that finished).
END_OF_INPUT_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - EPOCH) // timedelta(
    microseconds=1
)

# (event time, tiebreak) of an aligned item; the tiebreak orders events of one route and
# one event time (e.g. symbol and revision of a bar) and must depend only on content.
EventOrder = Callable[[Any], tuple[datetime, tuple[Any, ...]]]


_EVENT_ID = re.compile(rb'"event_id"\s*:\s*"([0-9a-fA-F-]{36})"')


def event_id_of(raw: bytes) -> str | None:
    """The envelope's event id, read off the record's bytes (it comes first)."""
    found = _EVENT_ID.search(raw, 0, 200)
    return found.group(1).decode() if found else None


def to_us(when: datetime) -> int:
    return (when - EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def describe(us: int | None) -> str:
    if us is None:
        return "none"
    return "end of input" if us >= END_OF_INPUT_US else from_us(us).isoformat()


def mark_key(real_topic: str, source: str = "") -> str:
    """Where a watermark of one source of a topic is kept (the topic itself for the default)."""
    return f"{real_topic}#{source}" if source else real_topic


def watermark_record(
    real_topic: str, partition: int, watermark_us: int, producer: str, source: str = ""
) -> OutgoingRecord:
    """The control record that tells consumers of one partition how far its producer got."""
    data: dict[str, Any] = {
        "watermark_us": watermark_us,
        "watermark": describe(watermark_us),
        "producer": producer,
    }
    if source:
        data["source"] = source
    return OutgoingRecord(
        topic=real_topic,
        # Compacted topics refuse records without a key; one key per partition (and source)
        # keeps the latest watermark of each after compaction.
        key=f"__watermark__.{partition}" + (f".{source}" if source else ""),
        value=json.dumps(data, separators=(",", ":")).encode(),
        headers=((WATERMARK_HEADER, b"1"),),
        partition=partition,
    )


def is_watermark(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    if not headers:
        return False
    return any(k == WATERMARK_HEADER for k, _ in headers)


def parse_watermark(value: bytes | None) -> int:
    """The watermark of a control record; ValueError if it is not one."""
    return parse_watermark_source(value)[0]


def parse_watermark_source(value: bytes | None) -> tuple[int, str]:
    """The watermark of a control record and its source ("" by default); ValueError if it is
    not one."""
    try:
        data = json.loads(value or b"")
        us = data["watermark_us"]
        source = data.get("source", "")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed watermark record: {exc}") from None
    if not isinstance(us, int) or isinstance(us, bool):
        raise ValueError("malformed watermark record: watermark_us is not an integer")
    if not isinstance(source, str):
        raise ValueError("malformed watermark record: source is not a string")
    return min(us, END_OF_INPUT_US), source


def minus(watermark_us: int, delay: timedelta) -> int:
    """A watermark moved back by `delay` (END_OF_INPUT stays the end)."""
    if watermark_us >= END_OF_INPUT_US:
        return END_OF_INPUT_US
    return watermark_us - delay // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Timed:
    """An event of an aligned input, waiting for the input watermark to pass its time."""

    time_us: int
    rank: int  # the route's position: events of one time go to routes in this order
    tiebreak: tuple[Any, ...]
    ident: str  # event id: copies of one event are released once
    topic: str  # real topic
    partition: int
    offset: int
    item: Any
    raw: bytes

    def sort_key(self) -> tuple[Any, ...]:
        return (self.time_us, self.rank, self.tiebreak, self.ident)

    @property
    def position(self) -> tuple[str, int, int]:
        """Where the record sits: (real topic, partition, offset)."""
        return (self.topic, self.partition, self.offset)


@dataclass
class Released:
    items: list[Timed]
    persisted: list[Timed]  # released items that had been written to pending_events


@dataclass
class EventTimeJoin:
    """Watermarks per input partition and the events waiting for them (no I/O)."""

    gating_topics: frozenset[str] = frozenset()
    # (mark_key(topic, source), partition) -> watermark
    watermarks: dict[tuple[str, int], int] = field(default_factory=dict)
    pending: list[Timed] = field(default_factory=list)
    # (topic, partition, offset) of pending items already in pending_events
    persisted: set[tuple[str, int, int]] = field(default_factory=set)
    late: int = 0
    # A bounded wait that expired released everything up to this time (see `overdue`).
    forced_through: int | None = None
    # When each pending item arrived (monotonic seconds), for the bounded wait.
    arrived: dict[tuple[str, int, int], float] = field(default_factory=dict)
    # Real topic -> the sources whose watermarks it needs (absent: one, the default "").
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def observe(self, marks: Mapping[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """Record watermarks (each partition keeps its maximum); returns those that advanced."""
        advanced: dict[tuple[str, int], int] = {}
        for tp, us in marks.items():
            if us > self.watermarks.get(tp, -(2**62)):
                self.watermarks[tp] = advanced[tp] = us
        return advanced

    def keys(
        self, assigned: Iterable[tuple[str, int]], topics: Iterable[str] | None = None
    ) -> list[tuple[str, int]]:
        """The watermark keys of the assigned partitions of `topics` (default: the gating
        ones), one per declared source."""
        wanted = self.gating_topics if topics is None else frozenset(topics)
        return [
            (mark_key(t, s), p)
            for t, p in assigned
            if t in wanted
            for s in self.sources.get(t, ("",))
        ]

    def input_watermark(
        self, assigned: Iterable[tuple[str, int]], topics: Iterable[str] | None = None
    ) -> int | None:
        """The minimum over the assigned partitions (and sources) of the aligned inputs, or
        of `topics` (None: one has none yet, or nothing is assigned)."""
        marks = [self.watermarks.get(key) for key in self.keys(assigned, topics)]
        if not marks or any(m is None for m in marks):
            return self.forced_through
        lowest = min(m for m in marks if m is not None)
        return lowest if self.forced_through is None else max(lowest, self.forced_through)

    def add(self, items: Iterable[Timed], current: int | None, now: float = 0.0) -> int:
        """Queue items (arrived at monotonic time `now`); returns how many were already
        behind the input watermark (late: their producer broke its promise, a copy of a
        released event, or an input a bounded wait gave up on)."""
        late = 0
        for item in items:
            if current is not None and item.time_us <= current:
                late += 1
            self.pending.append(item)
            self.arrived[item.position] = now
        self.late += late
        return late

    def overdue(self, now: float, max_wait_s: float) -> int | None:
        """The latest event time among pending items that waited longer than `max_wait_s`
        (None: none did): releasing through it bounds every wait."""
        limit = now - max_wait_s
        times = [t.time_us for t in self.pending if self.arrived.get(t.position, now) <= limit]
        return max(times) if times else None

    def force(self, through: int, assigned: Iterable[tuple[str, int]]) -> list[str]:
        """Give up waiting up to `through`; returns the partitions that were behind it."""
        lagging = [
            f"{k}[{p}]@{describe(self.watermarks.get((k, p)))}"
            for k, p in sorted(self.keys(assigned))
            if self.watermarks.get((k, p), -(2**62)) < through
        ]
        self.forced_through = max(through, self.forced_through or through)
        return lagging

    def release(self, watermark: int | None) -> Released:
        """Every pending item at or before `watermark`, in the one total order, copies once."""
        if watermark is None or not self.pending:
            return Released([], [])
        due = [t for t in self.pending if t.time_us <= watermark]
        if not due:
            return Released([], [])
        self.pending = [t for t in self.pending if t.time_us > watermark]
        for t in due:
            self.arrived.pop(t.position, None)
        due.sort(key=Timed.sort_key)
        items: list[Timed] = []
        seen: set[str] = set()
        for t in due:
            if t.ident not in seen:
                seen.add(t.ident)
                items.append(t)
        persisted = [t for t in due if t.position in self.persisted]
        for t in persisted:
            self.persisted.discard(t.position)
        return Released(items, persisted)

    def unpersisted(self) -> list[Timed]:
        return [t for t in self.pending if t.position not in self.persisted]

    def mark_persisted(self, items: Iterable[Timed]) -> None:
        self.persisted.update(t.position for t in items)


def timed_runs(items: Sequence[Timed]) -> list[tuple[str, list[Timed]]]:
    """Consecutive items of one topic grouped: (real topic, the items), in order."""
    out: list[tuple[str, list[Timed]]] = []
    for t in items:
        if out and out[-1][0] == t.topic:
            out[-1][1].append(t)
        else:
            out.append((t.topic, [t]))
    return out


def runs(items: Sequence[Timed]) -> list[tuple[str, list[Any]]]:
    """Consecutive items of one topic grouped: (real topic, their values), in order."""
    return [(topic, [t.item for t in run]) for topic, run in timed_runs(items)]
