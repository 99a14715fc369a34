"""Consumers refuse non-finite numbers and implausible event times on every topic."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from shared.events import DecodeError, StrategyParameters, decode

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "events"


def _golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GOLDEN / f"{name}.v1.json").read_text())
    return data


def _with_number(event: dict[str, Any], field: str, literal: str) -> bytes:
    placeholder = "__NUMBER__"
    event["payload"][field] = placeholder
    return json.dumps(event).replace(f'"{placeholder}"', literal).encode()


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("SpreadUpdated", "spread"),
        ("SpreadUpdated", "z_score"),
        ("PairTested", "pvalue"),
        ("SignalEmitted", "hedge_ratio"),
        ("RegimeShifted", "probability"),
        ("Bar", "close"),
    ],
)
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-2.5E+0309"])
def test_non_finite_numbers_are_poison_on_every_topic(
    event_type: str, field: str, literal: str
) -> None:
    raw = _with_number(_golden(event_type), field, literal)
    with pytest.raises(
        DecodeError, match=r"non-finite|does not fit a double|finite|input_value=-?(nan|inf)"
    ):
        decode(raw)


def test_big_finite_numbers_and_lookalike_text_still_decode() -> None:
    event = _golden("SpreadUpdated")
    assert decode(_with_number(event, "spread", "1e300")).payload.spread == 1e300
    event = _golden("SignalEmitted")
    event["payload"]["reason"] = "z NaN-free; Infinity pool; 5e123 is a code"
    assert decode(json.dumps(event).encode()).payload.reason.startswith("z NaN-free")


@pytest.mark.parametrize(
    "when", ["2100-01-01T00:00:00Z", "2250-06-01T00:00:00Z", "1899-12-31T23:59:59Z"]
)
def test_event_times_outside_1900_to_2100_are_poison(when: str) -> None:
    event = _golden("Bar")
    event["occurred_at"] = when
    with pytest.raises(DecodeError, match="outside"):
        decode(json.dumps(event).encode())


def test_no_time_stop_round_trips_as_null() -> None:
    params = StrategyParameters(
        entry_z=2.0, exit_z=0.5, stop_z=4.0, lookback=60, time_stop_half_lives=math.inf
    )
    wire = params.model_dump_json()
    assert '"time_stop_half_lives":null' in wire
    assert StrategyParameters.model_validate_json(wire) == params
    with pytest.raises(ValueError, match="greater than 0"):
        StrategyParameters.model_validate_json(wire.replace("null", "-1"))
