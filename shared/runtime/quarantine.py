"""A record whose handler raises is dead-lettered, never a crash loop (contract rule 5).

Decoding and validation catch what is malformed; a record that passes them and still makes
a handler raise (a bug meeting an input nobody foresaw) used to fail its batch on every
attempt, so the service died, restarted, met the same batch and died again.

Now such a failure rolls the batch back (as any failure does), the service's state is
reloaded, and the batch is run again *in isolation*: every handler gets one record's items at
a time, so the next failure names its record. That record is added to the batch's poisoned
set and the batch runs again from the start, with the poisoned records dead-lettered (their
DLQ record carries the handler's error) instead of handled. Handlers see the same events in
the same order either way (a batch's output does not depend on where batches are cut), so
the result is the run of the input without the poisoned records, plus their dead letters.

A failure that is not a record's fault (a missing table, a bug hit by every record) would
dead-letter everything: past `MAX_POISONED` records in one batch, or when a batch fails with
no record to blame, the failure is raised and the service stops with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.runtime.compute_first import ComputeFirst
from shared.runtime.records import ConsumedRecord
from shared.runtime.retry import is_transient
from shared.runtime.store import OffsetsFenced

Position = tuple[str, int, int]  # (real topic, partition, offset)

# Past this many poisoned records in one batch, or runs of it, the failure is the service's,
# not the data's.
MAX_POISONED = 20
MAX_RERUNS = 200


class HandlerFailed(Exception):
    """A handler raised an error that is neither transient nor one of the runtime's signals.
    `positions`: the records whose items it was handling (one, in isolation)."""

    def __init__(self, topic: str, positions: Sequence[Position], cause: BaseException) -> None:
        self.topic = topic
        self.positions = tuple(positions)
        self.cause = cause
        super().__init__(f"{topic}: {type(cause).__name__}: {cause}")

    @property
    def reason(self) -> str:
        return f"handler raised {type(self.cause).__name__}: {self.cause}"


class TooManyPoisoned(RuntimeError):
    """The handler fails on record after record: a fault of the service, not of its input."""


@dataclass
class Isolation:
    """A batch run again record by record, and what is known so far: the poisoned records,
    the one excluded on trial, and those whose exclusion did not help."""

    poisoned: dict[Position, str] = field(default_factory=dict)
    trial: tuple[Position, str] | None = None
    tried: set[Position] = field(default_factory=set)
    reruns: int = 0

    def excluded(self, position: Position) -> str | None:
        """The reason `position` is dead-lettered in this run, or None to handle it."""
        if self.trial is not None and self.trial[0] == position:
            return self.trial[1]
        return self.poisoned.get(position)

    def blame(self, failure: HandlerFailed) -> None:
        """Learn from the failure of a run in isolation; raise its cause when no record can
        be blamed (the failure is the service's, not its input's).

        `failure.positions` are the records of the failing call: one record, or every event
        of one event time (an aligned handler is called per event time: its events are only
        complete together). In a group, each record in turn is excluded on trial; when the
        group then passes, the excluded record was the poison."""
        self.reruns += 1
        if self.reruns > MAX_RERUNS:
            raise TooManyPoisoned(f"{self.reruns} runs of one batch in isolation") from failure
        if self.trial is not None:
            position, reason = self.trial
            self.trial = None
            if position in failure.positions:
                self.tried.add(position)  # excluding it did not help
            else:
                self._poison(position, reason)  # its group passed without it
        candidates = [p for p in failure.positions if p not in self.tried]
        if not failure.positions:
            raise failure.cause
        if len(failure.positions) == 1:
            self._poison(failure.positions[0], failure.reason)
        elif candidates:
            self.trial = (candidates[0], failure.reason)
        else:
            for position in failure.positions:  # no one of them alone: all of them
                self._poison(position, f"{failure.reason} (with every event of its time)")

    def _poison(self, position: Position, reason: str) -> None:
        self.poisoned[position] = reason
        if len(self.poisoned) > MAX_POISONED:
            raise TooManyPoisoned(
                f"{len(self.poisoned)} records of one batch made a handler raise; the last: "
                f"{reason}"
            )


def is_handler_fault(exc: BaseException) -> bool:
    """Whether `exc`, raised by a handler, may be the record's fault: not a transient outage,
    not a runtime signal, not cancellation."""
    if isinstance(exc, (ComputeFirst, OffsetsFenced, HandlerFailed)):
        return False
    if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit, MemoryError)):
        return False
    return not is_transient(exc)


async def guarded(
    topic: str,
    handle: Callable[[list[Any], Any], Awaitable[None]],
    items: list[Any],
    ctx: Any,
    positions: Sequence[Position],
) -> None:
    """`handle(items, ctx)`, its record-caused failures raised as HandlerFailed."""
    try:
        await handle(items, ctx)
    except BaseException as exc:
        if is_handler_fault(exc):
            raise HandlerFailed(topic, positions, exc) from exc
        raise


def as_record(position: Position, raw: bytes) -> ConsumedRecord:
    """A dead letter for an event released later than its batch (aligned inputs keep only
    its position and bytes)."""
    topic, partition, offset = position
    return ConsumedRecord(topic, partition, offset, None, raw)
