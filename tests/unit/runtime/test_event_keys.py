"""Known keys (contract rule 5): an event keyed otherwise than its topic's key is poison."""

from __future__ import annotations

from typing import Any

import pytest

from shared.events import Envelope, derive_id, make_envelope
from shared.runtime.event_keys import key_problem
from shared.runtime.records import ConsumedRecord
from shared.runtime.routes import envelope_decoder
from tests.unit.signals_service.builders import T0, params, shift, spread


def envelope(payload: Any, key: str) -> Envelope[Any]:
    return make_envelope(
        payload,
        event_id=derive_id("test", payload.model_dump_json()),
        occurred_at=T0,
        key=key,
        producer="test",
        produced_at=T0,
    )


@pytest.mark.parametrize(
    "topic, payload, key",
    [
        ("pairs.spreads.v1", spread("KO~PEP", 3, 1.2), "KO~PEP"),
        ("regime.shifts.v1", shift("market", 0, 1, "volatile"), "market"),
        ("params.v1", params("KO~PEP", 1, "wf-1"), "KO~PEP|1"),
        ("params.v1", params("*", None, "wf-2"), "*|*"),
    ],
)
def test_the_contracts_key_passes(topic: str, payload: Any, key: str) -> None:
    assert key_problem(topic, key.encode(), envelope(payload, key)) is None
    assert key_problem(topic, None, envelope(payload, key)) is None  # no record key: no check


def test_an_event_key_that_is_not_its_pair_id_is_named() -> None:
    problem = key_problem("pairs.spreads.v1", None, envelope(spread("KO~PEP", 3, 1.2), "XOM~CVX"))
    assert problem == (
        "event key 'XOM~CVX' is not its pair_id 'KO~PEP' (pairs.spreads.v1 is keyed by pair_id)"
    )


def test_a_record_key_that_is_not_the_events_key_is_named() -> None:
    env = envelope(params("KO~PEP", 1, "wf-1"), "KO~PEP|1")
    assert key_problem("params.v1", b"KO~PEP", env) == (
        "record key 'KO~PEP' is not the event's key 'KO~PEP|1'"
    )


def test_the_decoder_dead_letters_a_wrongly_keyed_record_and_keeps_the_rest() -> None:
    good = envelope(spread("KO~PEP", 3, 1.2), "KO~PEP")
    bad = envelope(spread("KO~PEP", 4, 1.3), "KO~PEP")
    records = [
        ConsumedRecord("pairs.spreads.v1", 0, 0, b"KO~PEP", good.to_bytes()),
        ConsumedRecord("pairs.spreads.v1", 0, 1, b"XOM~CVX", bad.to_bytes()),
    ]
    items, dead = envelope_decoder("pairs.spreads.v1")(records)
    assert [e.event_id for e in items] == [good.event_id]
    assert [(r.offset, why) for r, why in dead] == [
        (1, "record key 'XOM~CVX' is not the event's key 'KO~PEP'")
    ]
