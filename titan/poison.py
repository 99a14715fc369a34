"""Poison records for `titan demo --chaos SEED --poison RATE`, and the audit of the DLQs.

Each poison record is made from a real event of its topic, so that it is wrong in one way
only: not JSON, the wrong schema, a number that is not finite, or an event time outside
the contract's bounds. It goes to the partition of the real event it was made from (so the
consumers of that partition meet it among real events) under a key of its own,
"poison:<topic>:<n>": a compacted topic keeps the latest record per key, and a poison
record under a real key would erase that key's real event at the next compaction. The key
is also how the audit tells poison from real events in a dead-letter topic.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

POISON_KINDS = ("malformed_json", "wrong_schema", "nan", "time_out_of_range")
POISON_KEY_PREFIX = "poison:"
# One far-future and one far-past time, both outside [1900, 2100) (shared/events/envelope.py).
OUT_OF_RANGE_TIMES = ("2100-06-01T00:00:00Z", "1850-01-01T00:00:00Z")
_NAMESPACE = uuid.UUID("0b1e7f0a-5e9d-4a7e-9a52-3f0c4c7d2e10")
_NAN = "__TITAN_POISON_NAN__"
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def poison_key(topic: str, n: int) -> str:
    return f"{POISON_KEY_PREFIX}{topic}:{n}"


def is_poison_key(key: bytes | str | None) -> bool:
    if key is None:
        return False
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return text.startswith(POISON_KEY_PREFIX)


def poison_kind(n: int) -> str:
    """Kinds in turn, so that every topic with four poison records or more has each kind."""
    return POISON_KINDS[n % len(POISON_KINDS)]


def poison_value(template: Mapping[str, Any], topic: str, n: int) -> bytes:
    """The n-th poison record of `topic`, made from `template` (a real event of the topic,
    as JSON). Its event id is new: a poison record never shares an id with a real event."""
    kind = poison_kind(n)
    event = json.loads(json.dumps(template))
    event["event_id"] = str(uuid.uuid5(_NAMESPACE, f"{topic}|{n}"))
    event["key"] = poison_key(topic, n)
    if kind == "malformed_json":
        text = json.dumps(event)
        return text[: max(1, len(text) // 2)].encode()  # cut in the middle: never valid
    if kind == "wrong_schema":
        event["payload"] = {"poison": n}  # every required payload field missing
        return json.dumps(event).encode()
    if kind == "time_out_of_range":
        # The envelope's time and the payload's own (a tick's ts, a bar's bar_time): a
        # consumer that reads only one of them still meets an impossible time.
        when = OUT_OF_RANGE_TIMES[(n // len(POISON_KINDS)) % 2]
        event["occurred_at"] = when
        for name, value in event["payload"].items():
            if isinstance(value, str) and _ISO_TIME.match(value):
                event["payload"][name] = when
        return json.dumps(event).encode()
    payload = event["payload"]
    field = _first_number(payload)
    # A payload with no number still carries a NaN: the decoder refuses it anywhere.
    payload[field if field is not None else "poison_nan"] = _NAN
    return json.dumps(event).replace(f'"{_NAN}"', "NaN").encode()


def bare_envelope(event_type: str) -> dict[str, Any]:
    """An envelope of `event_type` with an empty payload: the template of poison for a topic
    with no real event to copy (params.v1 when no backtest runs). Refused already for its
    payload, so its poison is refused for that and for what each kind breaks."""
    return {
        "event_id": str(uuid.uuid5(_NAMESPACE, event_type)),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": "2000-01-03T21:00:00Z",
        "produced_at": "2000-01-03T21:00:00Z",
        "producer": "titan-poison",
        "key": "poison",
        "payload": {},
    }


def _first_number(payload: Mapping[str, Any]) -> str | None:
    for name in sorted(payload):
        value = payload[name]
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool)):
            return name
    return None


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic, as the batch runtime writes it (batch.py)."""

    key: str | None
    consumer: str
    source_partition: int
    source_offset: int
    reason: str


def dead_letter_from(key: bytes | None, headers: Iterable[tuple[str, bytes]]) -> DeadLetter:
    h = {name: value.decode("utf-8", "replace") for name, value in headers}
    return DeadLetter(
        key=key.decode("utf-8", "replace") if key is not None else None,
        consumer=h.get("titan.consumer", ""),
        source_partition=int(h.get("titan.source.partition", "-1")),
        source_offset=int(h.get("titan.source.offset", "-1")),
        reason=h.get("titan.error", ""),
    )


def audit_dead_letters(
    sent_keys: set[str], consumers: set[str], letters: Iterable[DeadLetter]
) -> dict[str, Any]:
    """How the poison sent to one topic came out of its consumers.

    `caught`: (consumer, poison key) pairs dead-lettered, each counted once (a consumer
    killed before its commit dead-letters the record again: at-least-once publication);
    it must equal sent x consumers. `missing`: pairs not dead-lettered. `unexpected`: dead
    letters that are not poison, i.e. real events refused. `unreasoned`: without a reason.
    """
    caught: set[tuple[str, str]] = set()
    unexpected = unreasoned = copies = 0
    for letter in letters:
        if letter.key is None or letter.key not in sent_keys:
            unexpected += 1
            continue
        if not letter.reason:
            unreasoned += 1
        pair = (letter.consumer, letter.key)
        copies += pair in caught
        caught.add(pair)
    wanted = {(c, k) for c in consumers for k in sent_keys}
    return {
        "sent": len(sent_keys),
        "consumers": sorted(consumers),
        "dead_lettered": len(caught & wanted),
        "missing": len(wanted - caught),
        "copies": copies,
        "unexpected": unexpected,
        "unreasoned": unreasoned,
    }
