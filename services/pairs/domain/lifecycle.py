"""Pair lifecycle with hysteresis: candidate -> active -> degraded -> retired.

A pair enters as a candidate when a screen passes it, and must pass ``confirm_screens``
consecutive screens to become active. An active pair degrades only after ``degrade_screens``
consecutive unhealthy screens, where "unhealthy" uses LOOSER limits than "passing" (p-value
drift above ``alpha_degrade``, half-life above ``half_life_blowup``, Hurst >= ``hurst_max``):
the band between the two sets of limits is what stops a pair flapping on one noisy test. A
degraded pair returns to active after ``confirm_screens`` consecutive passes, and retires
after ``retire_screens`` screens spent degraded. A candidate that fails ``retire_screens``
screens in a row retires without ever trading. A retired pair that passes again starts over
as a candidate.

A pair missing from a screen (a leg excluded for gaps) counts as a failed, unhealthy screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

import numpy as np
from numpy.typing import NDArray

PairState = Literal["candidate", "active", "degraded", "retired"]


@dataclass(frozen=True)
class LifecycleSettings:
    alpha: float = 0.05  # BH-adjusted p-value below which a screen passes
    alpha_degrade: float = 0.20  # looser: an active pair is unhealthy above it
    half_life_min: float = 1.0
    half_life_max: float = 60.0
    half_life_blowup: float = 120.0  # looser than half_life_max
    hurst_max: float = 0.5
    confirm_screens: int = 2
    degrade_screens: int = 2
    retire_screens: int = 3

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha <= self.alpha_degrade <= 1.0:
            raise ValueError("need 0 < alpha <= alpha_degrade <= 1")
        if not 0.0 < self.half_life_min <= self.half_life_max <= self.half_life_blowup:
            raise ValueError("need 0 < half_life_min <= half_life_max <= half_life_blowup")
        for name in ("confirm_screens", "degrade_screens", "retire_screens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")


@dataclass(frozen=True)
class ScreenOutcome:
    """What the lifecycle needs from one screen of one pair."""

    pvalue_adjusted: float
    half_life: float
    hurst: float


@dataclass(frozen=True)
class PairRecord:
    pair_id: str
    a: str
    b: str
    state: PairState
    since: datetime
    passes: int = 0  # consecutive passing screens
    strikes: int = 0  # consecutive unhealthy (active) or failed (candidate) screens
    degraded_screens: int = 0  # screens spent degraded
    screens: int = 0  # screens seen in total


@dataclass(frozen=True)
class Transition:
    pair_id: str
    from_state: PairState | None
    to_state: PairState
    reason: str


def _finite(x: float) -> bool:
    return math.isfinite(x)


def pass_failures(o: ScreenOutcome, s: LifecycleSettings) -> list[str]:
    """Why a screen does NOT pass (empty list = it passes)."""
    why: list[str] = []
    if not (_finite(o.pvalue_adjusted) and o.pvalue_adjusted < s.alpha):
        why.append(f"adjusted p-value {o.pvalue_adjusted:.4g} >= {s.alpha:g}")
    if not (_finite(o.half_life) and s.half_life_min <= o.half_life <= s.half_life_max):
        why.append(
            f"half-life {o.half_life:.4g} outside [{s.half_life_min:g}, {s.half_life_max:g}]"
        )
    if not (_finite(o.hurst) and o.hurst < s.hurst_max):
        why.append(f"Hurst {o.hurst:.3g} >= {s.hurst_max:g}")
    return why


def passing_mask(
    pvalue_adjusted: NDArray[np.float64],
    half_life: NDArray[np.float64],
    hurst: NDArray[np.float64],
    s: LifecycleSettings,
) -> NDArray[np.bool_]:
    """``passes`` of every pair of a screen at once, from its columns (the same limits as
    ``pass_failures``, which says why one does not pass)."""
    return (
        np.isfinite(pvalue_adjusted)
        & (pvalue_adjusted < s.alpha)
        & np.isfinite(half_life)
        & (half_life >= s.half_life_min)
        & (half_life <= s.half_life_max)
        & np.isfinite(hurst)
        & (hurst < s.hurst_max)
    )


def health_failures(o: ScreenOutcome, s: LifecycleSettings) -> list[str]:
    """Why an active pair is unhealthy on this screen (looser limits than passing)."""
    why: list[str] = []
    if not (_finite(o.pvalue_adjusted) and o.pvalue_adjusted <= s.alpha_degrade):
        why.append(f"p-value drift: adjusted {o.pvalue_adjusted:.4g} > {s.alpha_degrade:g}")
    if not (_finite(o.half_life) and o.half_life <= s.half_life_blowup):
        why.append(f"half-life blow-up: {o.half_life:.4g} > {s.half_life_blowup:g}")
    if not (_finite(o.hurst) and o.hurst < s.hurst_max):
        why.append(f"Hurst {o.hurst:.3g} >= {s.hurst_max:g}")
    return why


def passes(o: ScreenOutcome | None, s: LifecycleSettings) -> bool:
    return o is not None and not pass_failures(o, s)


MISSING = "pair not testable in this screen (a leg lacks a full window of prices)"


def step(
    record: PairRecord | None,
    outcome: ScreenOutcome | None,
    *,
    pair_id: str,
    a: str,
    b: str,
    as_of: datetime,
    settings: LifecycleSettings,
) -> tuple[PairRecord | None, list[Transition]]:
    """Advance one pair by one screen; ``outcome`` None = the pair was not testable."""
    ok = passes(outcome, settings)
    if record is None:
        if not ok:
            return None, []
        rec = PairRecord(pair_id, a, b, "candidate", as_of, passes=1, screens=1)
        changes = [Transition(pair_id, None, "candidate", "passed screen")]
        return _maybe_confirm(rec, changes, as_of, settings)

    rec = replace(record, screens=record.screens + 1)
    if rec.state == "retired":
        if not ok:
            return rec, []
        rec = replace(rec, state="candidate", since=as_of, passes=1, strikes=0, degraded_screens=0)
        changes = [
            Transition(pair_id, "retired", "candidate", "passed screen again after retirement")
        ]
        return _maybe_confirm(rec, changes, as_of, settings)

    if rec.state == "candidate":
        if ok:
            rec = replace(rec, passes=rec.passes + 1, strikes=0)
            return _maybe_confirm(rec, [], as_of, settings)
        rec = replace(rec, passes=0, strikes=rec.strikes + 1)
        if rec.strikes >= settings.retire_screens:
            why = _failure_text(outcome, settings, pass_failures)
            rec = replace(rec, state="retired", since=as_of, strikes=0)
            reason = f"never confirmed: failed {settings.retire_screens} screens in a row ({why})"
            return rec, [Transition(pair_id, "candidate", "retired", reason)]
        return rec, []

    if rec.state == "active":
        healthy = outcome is not None and not health_failures(outcome, settings)
        if healthy:
            return replace(rec, strikes=0, passes=rec.passes + 1 if ok else 0), []
        rec = replace(rec, strikes=rec.strikes + 1, passes=0)
        if rec.strikes >= settings.degrade_screens:
            why = _failure_text(outcome, settings, health_failures)
            rec = replace(rec, state="degraded", since=as_of, strikes=0, degraded_screens=0)
            reason = f"{why} on {settings.degrade_screens} consecutive screens"
            return rec, [Transition(pair_id, "active", "degraded", reason)]
        return rec, []

    # degraded: every screen spent here counts towards retirement
    rec = replace(rec, degraded_screens=rec.degraded_screens + 1)
    rec = replace(rec, passes=rec.passes + 1) if ok else replace(rec, passes=0)
    if rec.passes >= settings.confirm_screens:
        rec = replace(rec, state="active", since=as_of, strikes=0, degraded_screens=0)
        reason = f"recovered: passed {settings.confirm_screens} consecutive screens"
        return rec, [Transition(pair_id, "degraded", "active", reason)]
    if rec.degraded_screens >= settings.retire_screens:
        why = _failure_text(outcome, settings, pass_failures) if not ok else "not yet recovered"
        rec = replace(rec, state="retired", since=as_of, passes=0, degraded_screens=0)
        reason = f"degraded for {settings.retire_screens} screens ({why})"
        return rec, [Transition(pair_id, "degraded", "retired", reason)]
    return rec, []


def _maybe_confirm(
    rec: PairRecord, changes: list[Transition], as_of: datetime, s: LifecycleSettings
) -> tuple[PairRecord, list[Transition]]:
    if rec.state == "candidate" and rec.passes >= s.confirm_screens:
        reason = f"confirmed: passed {s.confirm_screens} consecutive screens"
        changes = [*changes, Transition(rec.pair_id, "candidate", "active", reason)]
        rec = replace(rec, state="active", since=as_of, strikes=0)
    return rec, changes


def _failure_text(
    outcome: ScreenOutcome | None,
    s: LifecycleSettings,
    check: Callable[[ScreenOutcome, LifecycleSettings], list[str]],
) -> str:
    if outcome is None:
        return MISSING
    reasons = check(outcome, s)
    return "; ".join(reasons) if reasons else "failed"
