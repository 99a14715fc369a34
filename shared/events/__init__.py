"""Every event of the contract, the envelope, and decoding by event type."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from shared.events.backtest import BacktestCompleted, BacktestFailed, BacktestRequested
from shared.events.envelope import Envelope, Payload, derive_id, ensure_utc, make_envelope
from shared.events.market import Bar, Tick, bar_id
from shared.events.pairs import PairStateChanged, PairTested, SpreadUpdated, pair_id
from shared.events.portfolio import OrderPlanned, PositionsMarked
from shared.events.regime import MARKET_SCOPE, RegimeShifted
from shared.events.signals import Leg, ParametersPublished, SignalEmitted, StrategyParameters

PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.EVENT_TYPE: cls
    for cls in (
        Tick,
        Bar,
        PairTested,
        PairStateChanged,
        SpreadUpdated,
        RegimeShifted,
        ParametersPublished,
        SignalEmitted,
        BacktestRequested,
        BacktestCompleted,
        BacktestFailed,
        OrderPlanned,
        PositionsMarked,
    )
}


# Envelope[cls] is built once per event type: subscripting it per record cost about as much
# as validating the record.
ENVELOPE_TYPES: dict[str, Any] = {name: Envelope[cls] for name, cls in PAYLOAD_TYPES.items()}  # type: ignore[valid-type]


class DecodeError(ValueError):
    """A record that can never be processed: it goes to the dead-letter topic."""


# JSON literals json.loads accepts and pydantic reads as floats, and exponents that overflow
# a double to infinity (1e400): a record with either is never decoded. The byte scan is a
# cheap pre-filter; the exact check runs only on a hit (a string may contain "NaN").
_NON_FINITE_HINT = re.compile(rb"NaN|Infinity|[0-9.][eE][+]?0*[0-9]{3,}[,}\]\s]")


def _reject_constant(name: str) -> float:
    raise DecodeError(f"non-finite number {name} (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise DecodeError(f"number {text} does not fit a double")
    return value


def _check_finite(raw: bytes) -> None:
    if _NON_FINITE_HINT.search(raw) is None:
        return
    try:
        json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"not JSON: {exc}") from exc


def decode(raw: bytes, expected: tuple[str, ...] | None = None) -> Envelope[Any]:
    """Decode one record's value into a typed envelope, or raise DecodeError with the reason.

    A topic with one event type validates the bytes directly (pydantic's JSON parser, a few
    times faster than json.loads then validating the dict); whatever it refuses goes the
    general way, which says precisely why it is refused. A record the models accept is
    then checked for non-finite numbers (models with their own finiteness rules, Tick and
    Bar, have refused it already with their own reason)."""
    if expected is not None and len(expected) == 1 and expected[0] in ENVELOPE_TYPES:
        try:
            envelope: Envelope[Any] = ENVELOPE_TYPES[expected[0]].model_validate_json(raw)
        except ValueError:
            pass
        else:
            if envelope.event_type == expected[0]:
                _check_finite(raw)
                return envelope
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise DecodeError("event is not a JSON object")
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or event_type not in PAYLOAD_TYPES:
        raise DecodeError(f"unknown event_type {event_type!r}")
    if expected is not None and event_type not in expected:
        raise DecodeError(f"event_type {event_type!r} does not belong on this topic")
    try:
        found: Envelope[Any] = ENVELOPE_TYPES[event_type].model_validate(data)
    except ValueError as exc:
        raise DecodeError(f"invalid {event_type}: {_short(exc)}") from exc
    _check_finite(raw)
    return found


def _short(exc: Exception) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= 500 else text[:497] + "..."


__all__ = [
    "MARKET_SCOPE",
    "PAYLOAD_TYPES",
    "BacktestCompleted",
    "BacktestFailed",
    "BacktestRequested",
    "Bar",
    "DecodeError",
    "Envelope",
    "Leg",
    "OrderPlanned",
    "PairStateChanged",
    "PairTested",
    "ParametersPublished",
    "Payload",
    "PositionsMarked",
    "RegimeShifted",
    "SignalEmitted",
    "SpreadUpdated",
    "StrategyParameters",
    "Tick",
    "bar_id",
    "decode",
    "derive_id",
    "ensure_utc",
    "make_envelope",
    "pair_id",
]
