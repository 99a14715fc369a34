"""Records in and out of the broker, and the mapping from contract topic names to real ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.events import Envelope
from shared.topics import dlq_topic


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    topic: str  # the real topic name (already resolved)
    key: str | None
    value: bytes
    event_id: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class TopicNames:
    """Real topic names: the contract name behind an optional prefix (tests isolate by prefix)."""

    prefix: str = ""

    def real(self, contract_name: str) -> str:
        return f"{self.prefix}{contract_name}"

    def contract(self, real_name: str) -> str:
        if self.prefix and real_name.startswith(self.prefix):
            return real_name[len(self.prefix) :]
        return real_name

    def dlq(self, real_name: str) -> str:
        return dlq_topic(real_name)


@dataclass
class Emitted:
    """What one batch produced: events and dead letters, in order."""

    records: list[OutgoingRecord] = field(default_factory=list)
    dead_letters: list[tuple[ConsumedRecord, str]] = field(default_factory=list)

    def event(self, topic: str, envelope: Envelope[Any]) -> None:
        self.records.append(
            OutgoingRecord(
                topic=topic,
                key=envelope.key,
                value=envelope.to_bytes(),
                event_id=str(envelope.event_id),
            )
        )
