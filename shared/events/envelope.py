"""The one event envelope of the contract, and deterministic event ids.

Ids are uuid5 over the event's cause (contract rule 4), so re-deriving an event after a
crash gives the same id, and a duplicate on a topic is recognisable as a copy.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Event times outside these bounds are poison: market data starts long after 1900, and a
# time past 2100 is a unit or parsing error (milliseconds read as seconds), never a forecast.
EARLIEST_EVENT_TIME = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_EVENT_TIME = datetime(2100, 1, 1, tzinfo=UTC)

TITAN_NAMESPACE = uuid.UUID("6f1c3a52-9c0e-4c0b-8f6e-2d7a1b9e4c11")


def derive_id(kind: str, *parts: object) -> uuid.UUID:
    """A stable id from the cause of a thing: kind plus the parts that identify it."""
    text = "|".join([kind, *(_part(p) for p in parts)])
    return uuid.uuid5(TITAN_NAMESPACE, text)


def _part(value: object) -> str:
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat()
    return str(value)


def ensure_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # e.g. year 1 at +01:00: a ValueError makes it a validation error, not a crash.
        raise ValueError(f"timestamp {value.isoformat()} is out of range in UTC") from None


class Payload(BaseModel):
    """Base of every event payload: frozen, unknown fields ignored (forward compatible).

    Producers write a number that is not finite as null (pydantic's serialisation); a
    record whose JSON carries NaN, Infinity or a number too big for a double is refused when
    decoded (`shared.events.decode`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    EVENT_TYPE: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """event_id, event_type, schema_version, occurred_at (event time), produced_at, producer, key.

    produced_at is when the producing service wrote the event (its outbox row); it is
    transport metadata, so equality of "content" between two runs is judged without it
    (see `content_identity`).
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: uuid.UUID
    event_type: str
    schema_version: int = Field(ge=1)
    occurred_at: datetime
    produced_at: datetime
    producer: str = Field(min_length=1)
    key: str = Field(min_length=1)
    payload: P

    @field_validator("occurred_at", "produced_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return ensure_utc(value)

    @field_validator("occurred_at")
    @classmethod
    def _plausible_event_time(cls, value: datetime) -> datetime:
        # Fixed bounds, not the wall clock: whether an event is accepted must not depend on
        # when it is consumed (a replay next year decides exactly as today).
        if not EARLIEST_EVENT_TIME <= value < LATEST_EVENT_TIME:
            raise ValueError(
                f"event time {value.isoformat()} is outside "
                f"[{EARLIEST_EVENT_TIME.date()}, {LATEST_EVENT_TIME.date()})"
            )
        return value

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode("utf-8")

    def content_identity(self) -> dict[str, Any]:
        """What must be equal between a faulty and a clean run: all but produced_at."""
        data: dict[str, Any] = json.loads(self.model_dump_json())
        data.pop("produced_at", None)
        return data


def make_envelope(
    payload: P,
    *,
    event_id: uuid.UUID,
    occurred_at: datetime,
    key: str,
    producer: str,
    produced_at: datetime,
) -> Envelope[P]:
    model: Any = Envelope[type(payload)]  # type: ignore[misc]
    envelope: Envelope[P] = model(
        event_id=event_id,
        event_type=payload.EVENT_TYPE,
        schema_version=payload.SCHEMA_VERSION,
        occurred_at=occurred_at,
        produced_at=produced_at,
        producer=producer,
        key=key,
        payload=payload,
    )
    return envelope
