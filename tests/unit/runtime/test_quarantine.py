"""How a batch run in isolation finds the record to dead-letter (shared/runtime/quarantine.py)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.runtime.compute_first import ComputeFirst
from shared.runtime.quarantine import (
    MAX_POISONED,
    HandlerFailed,
    Isolation,
    Position,
    TooManyPoisoned,
    guarded,
    is_handler_fault,
)
from shared.runtime.store import OffsetsFenced

A, B, C = (("bars", 0, n) for n in (1, 2, 3))


def failed(*positions: Position) -> HandlerFailed:
    return HandlerFailed("bars", positions, ValueError("close outside the model's range"))


def test_one_record_named_is_poisoned_with_the_handlers_error() -> None:
    isolation = Isolation()
    isolation.blame(failed(B))
    assert isolation.poisoned == {B: "handler raised ValueError: close outside the model's range"}
    assert isolation.excluded(B) is not None and isolation.excluded(A) is None


def test_in_a_group_each_record_is_excluded_on_trial_until_the_group_passes() -> None:
    isolation = Isolation()
    isolation.blame(failed(A, B, C))  # the events of one time fail together
    assert isolation.trial is not None and isolation.trial[0] == A
    isolation.blame(failed(A, B, C))  # still failing without A: not A
    assert isolation.trial is not None and isolation.trial[0] == B and A in isolation.tried
    assert isolation.excluded(B) is not None and isolation.excluded(A) is None
    # The group passed without B; a later time then fails on its own record.
    later: Position = ("bars", 1, 7)
    isolation.blame(failed(later))
    assert set(isolation.poisoned) == {B, later} and isolation.trial is None


def test_a_group_no_single_exclusion_fixes_is_dead_lettered_whole() -> None:
    isolation = Isolation()
    for _ in range(3):
        isolation.blame(failed(A, B))
    assert set(isolation.poisoned) == {A, B}
    assert all("with every event of its time" in r for r in isolation.poisoned.values())


def test_a_failure_with_no_record_to_blame_is_raised() -> None:
    with pytest.raises(ValueError, match="model's range"):
        Isolation().blame(failed())


def test_a_handler_failing_on_every_record_stops_the_service() -> None:
    isolation = Isolation()
    with pytest.raises(TooManyPoisoned):
        for n in range(MAX_POISONED + 1):
            isolation.blame(failed(("bars", 0, n)))


@pytest.mark.parametrize(
    "exc, fault",
    [
        (ValueError("x"), True),
        (KeyError("x"), True),
        (asyncpg.exceptions.NumericValueOutOfRangeError("x"), True),
        (ConnectionResetError(), False),  # an outage: retried, never blamed on a record
        (asyncpg.exceptions.DeadlockDetectedError("x"), False),
        (OffsetsFenced("x"), False),
        (asyncio.CancelledError(), False),
    ],
)
def test_what_counts_as_a_records_fault(exc: BaseException, fault: bool) -> None:
    assert is_handler_fault(exc) is fault


def test_guarded_names_the_records_and_lets_runtime_signals_through() -> None:
    class NeedsScreen(ComputeFirst):
        async def compute(self) -> None:
            return None

    async def raising(exc: BaseException) -> None:
        async def handle(items: list[int], ctx: object) -> None:
            raise exc

        await guarded("bars", handle, [1], None, (A,))

    with pytest.raises(HandlerFailed) as raised:
        asyncio.run(raising(ZeroDivisionError("division by zero")))
    assert raised.value.positions == (A,)
    assert raised.value.reason == "handler raised ZeroDivisionError: division by zero"
    with pytest.raises(NeedsScreen):
        asyncio.run(raising(NeedsScreen("a screen")))
