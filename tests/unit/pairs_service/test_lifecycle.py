"""Lifecycle hysteresis: promotion, degradation, recovery, retirement, and no flapping."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.pairs.domain.lifecycle import (
    LifecycleSettings,
    PairRecord,
    ScreenOutcome,
    Transition,
    step,
)

S = LifecycleSettings(
    alpha=0.05,
    alpha_degrade=0.20,
    half_life_min=1,
    half_life_max=60,
    half_life_blowup=120,
    confirm_screens=2,
    degrade_screens=2,
    retire_screens=3,
)
GOOD = ScreenOutcome(pvalue_adjusted=0.01, half_life=10.0, hurst=0.3)
GREY = ScreenOutcome(pvalue_adjusted=0.10, half_life=10.0, hurst=0.3)  # not passing, healthy
BAD = ScreenOutcome(pvalue_adjusted=0.60, half_life=10.0, hurst=0.3)
T0 = datetime(2021, 1, 1, tzinfo=UTC)


def run(
    outcomes: list[ScreenOutcome | None], s: LifecycleSettings = S
) -> tuple[PairRecord | None, list[tuple[int, Transition]]]:
    rec: PairRecord | None = None
    log: list[tuple[int, Transition]] = []
    for i, o in enumerate(outcomes):
        rec, changes = step(
            rec, o, pair_id="A~B", a="A", b="B", as_of=T0 + timedelta(days=i), settings=s
        )
        log.extend((i, c) for c in changes)
    return rec, log


def path(log: list[tuple[int, Transition]]) -> list[str]:
    return [c.to_state for _, c in log]


def test_first_pass_makes_candidate_then_confirmed_after_m_passes() -> None:
    rec, log = run([GOOD, GOOD])
    assert path(log) == ["candidate", "active"]
    assert [i for i, _ in log] == [0, 1]
    assert rec is not None and rec.state == "active" and rec.since == T0 + timedelta(days=1)
    assert log[0][1].from_state is None and "passed" in log[0][1].reason


def test_a_failing_test_never_creates_a_pair() -> None:
    rec, log = run([BAD, GREY, None])
    assert rec is None and log == []


def test_one_noisy_test_does_not_degrade_an_active_pair() -> None:
    rec, log = run([GOOD, GOOD, BAD, GOOD, BAD, GOOD, GOOD])
    assert path(log) == ["candidate", "active"]
    assert rec is not None and rec.state == "active"


def test_grey_zone_keeps_active_pairs_active() -> None:
    rec, log = run([GOOD, GOOD, GREY, GREY, GREY, GREY])
    assert path(log) == ["candidate", "active"]
    assert rec is not None and rec.state == "active" and rec.strikes == 0


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        (ScreenOutcome(0.5, 10.0, 0.3), "p-value drift"),
        (ScreenOutcome(0.01, 500.0, 0.3), "half-life blow-up"),
        (ScreenOutcome(0.01, 10.0, 0.55), "Hurst"),
        (None, "not testable"),
    ],
)
def test_degrades_after_consecutive_unhealthy_screens_with_reason(
    bad: ScreenOutcome | None, fragment: str
) -> None:
    rec, log = run([GOOD, GOOD, bad, bad])
    assert path(log) == ["candidate", "active", "degraded"]
    assert fragment in log[-1][1].reason
    assert rec is not None and rec.state == "degraded"


def test_degraded_recovers_only_after_m_consecutive_passes() -> None:
    rec, log = run([GOOD, GOOD, BAD, BAD, GOOD, BAD, GOOD, GOOD], S)
    # degraded at 3; the pass at 4 is broken by 5; 6 and 7 recover... but retire_screens=3
    # counts screens spent degraded: 4, 5, 6 -> retired at 6 before the second pass.
    assert path(log) == ["candidate", "active", "degraded", "retired", "candidate"]
    s2 = LifecycleSettings(confirm_screens=2, degrade_screens=2, retire_screens=10)
    rec, log = run([GOOD, GOOD, BAD, BAD, GOOD, BAD, GOOD, GOOD], s2)
    assert path(log) == ["candidate", "active", "degraded", "active"]
    assert [i for i, _ in log] == [0, 1, 3, 7]
    assert rec is not None and rec.state == "active"


def test_degraded_retires_after_r_screens() -> None:
    _rec, log = run([GOOD, GOOD, BAD, BAD, BAD, GREY, BAD])
    assert path(log) == ["candidate", "active", "degraded", "retired"]
    assert [i for i, _ in log][-1] == 6
    assert "degraded for 3 screens" in log[-1][1].reason


def test_unconfirmed_candidate_retires_after_r_failures_and_can_return() -> None:
    _rec, log = run([GOOD, BAD, GREY, None, GOOD])
    assert path(log) == ["candidate", "retired", "candidate"]
    assert "never confirmed" in log[1][1].reason
    assert log[2][1].from_state == "retired"


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="alpha_degrade"):
        LifecycleSettings(alpha=0.1, alpha_degrade=0.05)
    with pytest.raises(ValueError, match="confirm_screens"):
        LifecycleSettings(confirm_screens=0)


outcome_st = st.sampled_from([GOOD, GREY, BAD, None])


@settings(max_examples=300, deadline=None)
@given(st.lists(outcome_st, min_size=1, max_size=40))
def test_no_state_change_is_caused_by_an_isolated_noisy_screen(
    seq: list[ScreenOutcome | None],
) -> None:
    """Changing one screen's outcome, in the middle of a run of equal outcomes, changes the
    state path at most by delaying or advancing it; concretely: between two transitions out
    of active or into active there are always >= min(M, D) screens (never flapping)."""
    _, log = run(seq)
    for (i, c1), (j, c2) in itertools.pairwise(log):
        if c1.to_state == "active" and c2.from_state == "active":
            assert j - i >= S.degrade_screens
        if c1.to_state == "degraded" and c2.to_state == "active":
            assert j - i >= S.confirm_screens


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([GOOD, GREY]), min_size=2, max_size=30), st.integers(0, 29))
def test_one_bad_screen_inside_good_ones_never_changes_an_active_pair(
    tail: list[ScreenOutcome], where: int
) -> None:
    seq: list[ScreenOutcome | None] = [GOOD, GOOD, *tail]
    seq.insert(2 + where % len(tail), BAD)
    _, log = run(seq)
    assert path(log) == ["candidate", "active"]
