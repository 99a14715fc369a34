"""An event id names one content: a record that reuses a seen id with other content is poison.

Stored offsets already make a redelivered record (same offset) invisible. What they cannot
see is a new record that carries an event id the service has consumed before: a producer
re-sending it (the outbox relay after a crash, the regime broadcast to every partition)
is harmless when the content is the same, and a silent duplicate; with other content it is
a forged or corrupted event, and it goes to the topic's DLQ instead of overwriting what the
first one said. "Content" is the envelope without produced_at (transport metadata), as for
the digests of two runs (Envelope.content_identity).

Pure: the caller reads the ids seen before from its table and stores the fresh ones.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.runtime.records import ConsumedRecord


@dataclass(frozen=True, slots=True)
class Identified:
    """A consumed record, its event id and the digest of its content."""

    record: ConsumedRecord
    event_id: str
    digest: bytes


@dataclass(frozen=True, slots=True)
class Seen:
    """Where an event id was consumed before, and the digest of the content it had."""

    topic: str
    partition: int
    digest: bytes


@dataclass
class Verdicts:
    fresh: list[Identified] = field(default_factory=list)
    duplicates: list[ConsumedRecord] = field(default_factory=list)
    conflicts: list[tuple[ConsumedRecord, str]] = field(default_factory=list)


def identify(record: ConsumedRecord) -> Identified | None:
    """The record's event id and content digest; None when it is no envelope with an id (the
    decoder dead-letters such records with its own reason)."""
    if record.value is None:
        return None
    try:
        data = json.loads(record.value)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("event_id"), str):
        return None
    try:
        event_id = str(uuid.UUID(data["event_id"]))
    except ValueError:
        return None
    data.pop("produced_at", None)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Identified(record, event_id, hashlib.sha256(canonical.encode("utf-8")).digest())


def judge(identified: Sequence[Identified], stored: Mapping[str, Sequence[Seen]]) -> Verdicts:
    """Sort a batch's records (in consumption order) against the ids seen before.

    Other content than any earlier sighting: a conflict (dead letter). Same content on a
    partition where the id was already consumed: a duplicate, dropped. Otherwise fresh: the
    first sighting, or the same event on another partition (a broadcast copy, which the
    replica owning that partition needs).
    """
    known: dict[str, list[Seen]] = {k: list(v) for k, v in stored.items()}
    verdicts = Verdicts()
    for item in identified:
        record = item.record
        sightings = known.get(item.event_id, [])
        other = next((s for s in sightings if s.digest != item.digest), None)
        if other is not None:
            verdicts.conflicts.append((record, _conflict_reason(item.event_id, other)))
        elif any(s.topic == record.topic and s.partition == record.partition for s in sightings):
            verdicts.duplicates.append(record)
        else:
            verdicts.fresh.append(item)
            known.setdefault(item.event_id, []).append(
                Seen(record.topic, record.partition, item.digest)
            )
    return verdicts


def _conflict_reason(event_id: str, first: Seen) -> str:
    return (
        f"event id {event_id} reused with different content: first consumed on "
        f"{first.topic}[{first.partition}] with content digest {first.digest.hex()[:16]}; "
        "an event id names one content, so this record is poison"
    )
