"""Known keys: an event's key is the one the contract gives its topic (ARCHITECTURE.md's
table: a bar's symbol, a spread's pair id, a parameter set's `pair id|regime`...), and the
record's Kafka key is that key. A record keyed otherwise sits in another partition than its
stream's: a co-partitioned join would never meet it, and a compacted topic would keep a
stale version. Such records are poison (contract rule 5)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.events import Envelope
from shared.topics import topic as topic_spec

# TopicSpec.key -> the key an event of the topic must carry, from its payload.
KEY_OF: dict[str, Callable[[Any], str]] = {
    "symbol": lambda p: str(p.symbol),
    "pair_id": lambda p: str(p.pair_id),
    "scope": lambda p: str(p.scope),
    "pair_id|regime": lambda p: f"{p.pair_id}|{'*' if p.regime is None else p.regime}",
    "request_id": lambda p: str(p.request_id),
    "portfolio": lambda p: str(p.portfolio),
}


def key_problem(
    contract_topic: str, record_key: bytes | None, envelope: Envelope[Any]
) -> str | None:
    """Why the event's keys are not the contract's, or None when they are."""
    spec_key = topic_spec(contract_topic).key
    derive = KEY_OF.get(spec_key)
    if derive is not None:
        try:
            wanted = derive(envelope.payload)
        except AttributeError:
            wanted = None  # an event type without the field: nothing to check against
        if wanted is not None and envelope.key != wanted:
            return (
                f"event key {envelope.key!r} is not its {spec_key} {wanted!r} "
                f"({contract_topic} is keyed by {spec_key})"
            )
    return record_key_problem(record_key, envelope.key)


def record_key_problem(record_key: bytes | None, event_key: str) -> str | None:
    """Why the record's Kafka key is not the event's key, or None when it is (or the record
    is unkeyed: the producer's partitioner chose, there is nothing to compare)."""
    if record_key is not None and record_key != event_key.encode("utf-8"):
        shown = record_key.decode("utf-8", "replace")[:200]
        return f"record key {shown!r} is not the event's key {event_key!r}"
    return None
