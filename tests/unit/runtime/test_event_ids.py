"""A reused event id: silent duplicate with the same content, poison with other content."""

from __future__ import annotations

import json
from typing import Any

from shared.runtime.event_ids import Seen, identify, judge
from shared.runtime.records import ConsumedRecord

EVENT_ID = "6f1c1c8e-1d5b-4a55-9a36-1c4f9e0c2b11"


def envelope(
    close: float = 101.5, produced_at: str = "2024-01-02T21:00:01Z", **extra: Any
) -> bytes:
    return json.dumps({
        "event_id": EVENT_ID, "event_type": "Bar", "schema_version": 1,
        "occurred_at": "2024-01-02T21:00:00Z", "produced_at": produced_at,
        "producer": "titan-market_data", "key": "KO",
        "payload": {"symbol": "KO", "close": close}, **extra,
    }).encode()  # fmt: skip


def record(value: bytes | None, offset: int, partition: int = 0) -> ConsumedRecord:
    return ConsumedRecord("t.market.bars.v1", partition, offset, b"KO", value)


def test_content_is_the_envelope_without_produced_at_whatever_the_key_order() -> None:
    first = identify(record(envelope(), 0))
    resent = identify(record(envelope(produced_at="2030-05-05T00:00:00Z"), 1))
    reordered = identify(
        record(json.dumps(dict(reversed(json.loads(envelope()).items()))).encode(), 2)
    )
    changed = identify(record(envelope(close=99.0), 3))
    assert first is not None and resent is not None and reordered is not None
    assert changed is not None
    assert first.event_id == EVENT_ID
    assert first.digest == resent.digest == reordered.digest
    assert changed.digest != first.digest


def test_records_that_are_no_envelope_with_an_id_are_left_to_the_decoder() -> None:
    for value in (None, b"not json", b"[1, 2]", b'{"event_id": 7}', b'{"event_id": "nope"}'):
        assert identify(record(value, 0)) is None


def test_first_sightings_are_fresh_and_remembered_within_the_batch() -> None:
    a = identify(record(envelope(), 0))
    again = identify(record(envelope(produced_at="2024-01-03T00:00:00Z"), 1))
    forged = identify(record(envelope(close=0.01), 2))
    assert a is not None and again is not None and forged is not None
    verdicts = judge([a, again, forged], {})
    assert verdicts.fresh == [a]
    assert verdicts.duplicates == [again.record]
    assert [r for r, _ in verdicts.conflicts] == [forged.record]


def test_a_stored_sighting_with_other_content_makes_the_record_poison() -> None:
    item = identify(record(envelope(close=99.0), 7))
    first = identify(record(envelope(), 0))
    assert item is not None and first is not None
    stored = {EVENT_ID: [Seen("t.market.bars.v1", 0, first.digest)]}
    verdicts = judge([item], stored)
    assert not verdicts.fresh and not verdicts.duplicates
    [(poison, reason)] = verdicts.conflicts
    assert poison is item.record
    assert f"event id {EVENT_ID} reused with different content" in reason
    assert "first consumed on t.market.bars.v1[0]" in reason


def test_the_same_event_on_another_partition_is_a_broadcast_copy_not_a_duplicate() -> None:
    copy = identify(record(envelope(), 3, partition=2))
    assert copy is not None
    stored = {EVENT_ID: [Seen("t.market.bars.v1", 0, copy.digest)]}
    assert judge([copy], stored).fresh == [copy]
    same_partition = identify(record(envelope(), 9, partition=0))
    assert same_partition is not None
    assert judge([same_partition], stored).duplicates == [same_partition.record]
