"""Poison records of the fault matrix (titan/poison.py): each kind is refused by the
contract's decoder for its own reason, on every topic's event type, and the DLQ audit
counts what each consumer caught."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from shared.events import DecodeError, decode
from shared.topics import CONTRACT_TOPICS
from titan.faults import FaultPlan, plan_from
from titan.poison import (
    POISON_KINDS,
    DeadLetter,
    audit_dead_letters,
    bare_envelope,
    dead_letter_from,
    is_poison_key,
    poison_key,
    poison_kind,
    poison_value,
)

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "events"
REASONS = {
    "malformed_json": "not JSON",
    "wrong_schema": "invalid",
    "nan": "non-finite|finite|nan",
    "time_out_of_range": "outside",
}


def _golden(event_type: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{event_type}.v1.json").read_text())
    return data


@pytest.mark.parametrize("spec", CONTRACT_TOPICS, ids=lambda s: s.name)
def test_every_kind_of_poison_is_refused_with_its_reason_on_every_topic(spec: Any) -> None:
    template = _golden(spec.events[0])
    decode(json.dumps(template).encode(), spec.events)  # the template itself is an event
    for n in range(2 * len(POISON_KINDS)):  # both out-of-range times
        raw = poison_value(template, spec.name, n)
        with pytest.raises(DecodeError, match=REASONS[poison_kind(n)]):
            decode(raw, spec.events)


def test_poison_never_shares_an_id_or_key_with_its_template_and_is_reproducible() -> None:
    template = _golden("SpreadUpdated")
    values = [poison_value(template, "pairs.spreads.v1", n) for n in range(8)]
    assert values == [poison_value(template, "pairs.spreads.v1", n) for n in range(8)]
    assert len(set(values)) == 8
    for n in (1, 2, 3):  # the kinds that are still JSON
        event = json.loads(values[n].replace(b"NaN", b"null"))
        assert event["event_id"] != template["event_id"]
        assert event["key"] == poison_key("pairs.spreads.v1", n)
    assert {poison_kind(n) for n in range(4)} == set(POISON_KINDS)


def test_poison_from_a_bare_envelope_is_refused_too() -> None:
    for n in range(4):
        with pytest.raises(DecodeError):
            decode(poison_value(bare_envelope("ParametersPublished"), "params.v1", n))


def test_poison_keys_are_told_from_real_keys() -> None:
    assert is_poison_key(poison_key("market.bars.v1", 3).encode())
    assert is_poison_key("poison:signals.v1:0")
    assert not is_poison_key(b"KO") and not is_poison_key(None)


def test_dead_letter_headers_are_read_back() -> None:
    letter = dead_letter_from(
        b"poison:market.bars.v1:0",
        [("titan.source.topic", b"x.market.bars.v1"), ("titan.source.partition", b"2"),
         ("titan.source.offset", b"41"), ("titan.error", b"not JSON: ..."),
         ("titan.consumer", b"titan-pairs")],
    )  # fmt: skip
    assert letter == DeadLetter("poison:market.bars.v1:0", "titan-pairs", 2, 41, "not JSON: ...")


def test_audit_counts_each_consumer_once_per_poison_record_and_flags_the_rest() -> None:
    sent = {"poison:t:0", "poison:t:1"}
    letters = [
        DeadLetter("poison:t:0", "titan-pairs", 0, 5, "not JSON"),
        DeadLetter("poison:t:0", "titan-pairs", 0, 5, "not JSON"),  # re-done after a kill
        DeadLetter("poison:t:1", "titan-pairs", 1, 9, "invalid Bar"),
        DeadLetter("poison:t:0", "titan-regime", 0, 5, ""),
        DeadLetter("KO", "titan-regime", 1, 3, "invalid Bar"),  # a real event refused
    ]
    audit = audit_dead_letters(sent, {"titan-pairs", "titan-regime"}, letters)
    assert audit == {
        "sent": 2, "consumers": ["titan-pairs", "titan-regime"], "dead_lettered": 3,
        "missing": 1, "copies": 1, "unexpected": 1, "unreasoned": 1,
    }  # fmt: skip


def _args(**overrides: Any) -> argparse.Namespace:
    base = {"kills": None, "broker_kills": 0, "postgres_stops": 0, "poison": 0.0,
            "chaos": None, "offline": False}  # fmt: skip
    return argparse.Namespace(**(base | overrides))


def test_fault_options_need_chaos_and_live_services() -> None:
    assert plan_from(_args()) == FaultPlan()
    assert "need --chaos" in str(plan_from(_args(kills=50)))
    assert "live services" in str(plan_from(_args(chaos=1, poison=0.01, offline=True)))
    plan = plan_from(_args(chaos=1, kills=50, broker_kills=5, postgres_stops=5, poison=0.01))
    assert plan == FaultPlan(50, 5, 5, 0.01) and plan.active
