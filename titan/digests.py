"""Content digests of the pipeline's output topics: the proof that two runs agree.

A topic's digest is SHA-256 over its events sorted by event id, each contributing its id and
its payload as canonical JSON (keys sorted, no spaces). Copies of one event (the outbox may
publish twice) count once; watermark records are control records, not events. Transport
metadata (produced_at, producer, offsets, partitions) is left out, so two runs over the same
input, live or offline, give the same digests exactly when they produced the same events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import DecodeError, decode
from shared.runtime.watermarks import is_watermark

# The topics `titan demo` reports, in pipeline order.
DIGEST_TOPICS = (
    "market.bars.v1",
    "pairs.tests.v1",
    "pairs.lifecycle.v1",
    "pairs.spreads.v1",
    "regime.shifts.v1",
    "params.v1",
    "signals.v1",
    "portfolio.orders.v1",
    "portfolio.positions.v1",
)


class DigestError(ValueError):
    """Two events with one id but different payloads: a broken determinism promise."""


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def topic_digest(events: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """{"count", "sha256"} of (event id, payload) pairs; copies count once."""
    unique: dict[str, str] = {}
    for event_id, payload in events:
        text = canonical(payload)
        known = unique.setdefault(str(event_id), text)
        if known != text:
            raise DigestError(f"event {event_id} was published with two different payloads")
    h = hashlib.sha256()
    for event_id in sorted(unique):
        h.update(event_id.encode())
        h.update(b"\x00")
        h.update(unique[event_id].encode())
        h.update(b"\n")
    return {"count": len(unique), "sha256": h.hexdigest()}


def digests_of(events_by_topic: Mapping[str, Iterable[tuple[str, Any]]]) -> dict[str, Any]:
    return {t: topic_digest(events_by_topic.get(t, ())) for t in DIGEST_TOPICS}


@dataclass(frozen=True)
class Published:
    """One event as it sits in its partition."""

    partition: int
    key: str | None
    event_id: str
    payload: Any


def delivery_audit(records: Iterable[Published]) -> dict[str, int]:
    """Copies of one event (allowed: at-least-once publication) and, among them, copies that
    came after a newer event of the same key in the partition (not allowed: a consumer that
    keeps the latest event per key would go back in time). Records in partition order."""
    copies = late = 0
    seen: dict[tuple[int, str | None], set[str]] = {}
    last: dict[tuple[int, str | None], str] = {}
    for r in records:
        where = (r.partition, r.key)
        ids = seen.setdefault(where, set())
        if r.event_id in ids:
            copies += 1
            if last[where] != r.event_id:
                late += 1
        ids.add(r.event_id)
        last[where] = r.event_id
    return {"copies": copies, "copies_after_newer": late}


async def read_published(
    bootstrap: str, ends: Mapping[tuple[str, int], int], events: tuple[str, ...] | None = None
) -> list[Published]:
    """Every event of the partitions in `ends` ((real topic, partition) -> end offset, as
    `Pipeline.end_offsets` gives them), from the first offset to the end, with its partition
    and key, each partition's in offset order. With `events` (the topic's event types), a
    record the contract's decoder refuses is poison, not an event, and is left out (a run
    with poison records sent in must give the clean run's digests)."""
    tps = [TopicPartition(t, p) for (t, p), end in sorted(ends.items()) if end > 0]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Published] = []
        remaining = set(tps)
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                end = ends[(tp.topic, tp.partition)]
                for m in messages:
                    if m.offset < end and not is_watermark(m.headers) and m.value is not None:
                        if events is not None and not _decodes(m.value, events):
                            continue
                        # (getmany returns each partition's records in offset order)
                        event = json.loads(m.value)
                        key = m.key.decode() if m.key is not None else None
                        out.append(Published(tp.partition, key, event["event_id"],
                                             event["payload"]))  # fmt: skip
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[(tp.topic, tp.partition)]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


def _decodes(raw: bytes, events: tuple[str, ...]) -> bool:
    try:
        decode(raw, events)
    except DecodeError:
        return False
    return True
