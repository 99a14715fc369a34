"""The pairs pipeline: bars in, effects out (rows to write, events to emit). No I/O.

Per complete bar time u, in order: (1) deferred revisions due at u are applied; (2) every
active pair's spread is updated with the closes at u; (3) when a scheduled screen is due
(first as soon as a full window exists, then every ``every`` complete times) the universe
is screened as of u and the lifecycle advanced. A pair leaving active at u has therefore
already had its final spread at u emitted. On-demand screens run the same step (3) as of
their recorded time, before any later bar time is processed.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.cointegration import PairScreenResult, ScreenTable
from services.pairs.domain.lifecycle import (
    LifecycleSettings,
    PairRecord,
    passes,
    passing_mask,
    step,
)
from services.pairs.domain.screening import (
    ScreenFn,
    ScreenInput,
    ScreenSettings,
    finite_or_none,
    in_process_screen,
    outcome_of,
    pair_key,
    screen_input,
    screen_matrix,
)
from services.pairs.domain.spread import (
    SpreadPoint,
    SpreadSettings,
    TrackerState,
    start_tracker,
    update_tracker,
)
from services.pairs.domain.universe import BarClose, DeferredBar, Universe, UniverseConfig
from shared.events import PairStateChanged, PairTested, SpreadUpdated, derive_id, pair_id
from shared.topics import PAIRS_LIFECYCLE, PAIRS_SPREADS, PAIRS_TESTS


@dataclass(frozen=True)
class PipelineConfig:
    interval: str = "1d"
    universe: UniverseConfig = field(default_factory=UniverseConfig)
    screen: ScreenSettings = field(default_factory=ScreenSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    spread: SpreadSettings = field(default_factory=SpreadSettings)


@dataclass(frozen=True)
class OutEvent:
    topic: str
    key: str
    event_id: uuid.UUID
    occurred_at: datetime
    payload: Any


@dataclass(frozen=True)
class TestRecord:
    pair_id: str
    screen_id: uuid.UUID
    as_of: datetime
    passed: bool
    payload: PairTested


@dataclass
class Effects:
    stored_bars: list[BarClose] = field(default_factory=list)
    deferred_added: list[DeferredBar] = field(default_factory=list)
    deferred_applied: list[DeferredBar] = field(default_factory=list)
    completed: list[tuple[int, datetime]] = field(default_factory=list)
    tests: list[TestRecord] = field(default_factory=list)
    pairs: dict[str, PairRecord] = field(default_factory=dict)
    trackers: dict[str, TrackerState] = field(default_factory=dict)
    trackers_removed: set[str] = field(default_factory=set)
    spreads: list[SpreadPoint] = field(default_factory=list)
    events: list[OutEvent] = field(default_factory=list)
    screens: list[tuple[uuid.UUID, datetime | None, str]] = field(default_factory=list)
    # (n_complete, last_complete, steps) of the universe clock after this step
    clock: tuple[int, datetime | None, int] | None = None


class Pipeline:
    def __init__(self, config: PipelineConfig, screen_fn: ScreenFn = in_process_screen) -> None:
        self.config = config
        self.screen_fn = screen_fn  # e.g. sharded over processes: same results, see screening
        self.universe = Universe(config.universe)
        self.pairs: dict[tuple[str, str], PairRecord] = {}
        self.trackers: dict[str, TrackerState] = {}
        self.steps = 0  # committed transactions that touched this pipeline

    def restore(self, pairs: list[PairRecord], trackers: list[TrackerState]) -> None:
        self.pairs = {pair_key(p.a, p.b): p for p in pairs}
        self.trackers = {t.pair_id: t for t in trackers}

    # ----- bars ----------------------------------------------------------------------------
    def on_released(self, bars: list[BarClose], fx: Effects) -> None:
        """Bars released by event time (contract rule 7): every input has passed the latest
        of them, so every bar time up to it is complete."""
        through = max((b.bar_time for b in bars), default=None)
        self.on_bars(bars, fx, complete_through=through)

    def on_bars(
        self, bars: list[BarClose], fx: Effects, *, complete_through: datetime | None = None
    ) -> None:
        """Observe bars, then process every bar time that became complete. With
        `complete_through`, every input has passed that time (released by event time)."""
        for bar in bars:
            obs = self.universe.observe(bar)
            if obs.stored is not None:
                fx.stored_bars.append(obs.stored)
            if obs.deferred is not None:
                fx.deferred_added.append(obs.deferred)
        while (done := self.universe.advance(complete_through)) is not None:
            fx.completed.append((done.seq, done.bar_time))
            fx.deferred_applied.extend(done.applied)
            self._update_spreads(done.bar_time, fx)
            if self._screen_due(done.seq):
                screen_id = derive_id("pairs-screen", self.config.interval, done.bar_time)
                self.screen(done.bar_time, screen_id, fx)

    def _update_spreads(self, t: datetime, fx: Effects) -> None:
        if not self.trackers:
            return
        row = self.universe.effective(1)[0]
        for pid in sorted(self.trackers):
            tr = self.trackers[pid]
            pa = row[self.universe.column(tr.a)]
            pb = row[self.universe.column(tr.b)]
            if not (np.isfinite(pa) and np.isfinite(pb) and pa > 0 and pb > 0):
                continue  # a leg lacks a price at t even after forward fill
            new, point = update_tracker(tr, t, float(pa), float(pb), self.config.spread)
            self.trackers[pid] = new
            fx.trackers[pid] = new
            fx.spreads.append(point)
            fx.events.append(self._spread_event(point))

    # ----- screens -------------------------------------------------------------------------
    def _screen_due(self, seq: int) -> bool:
        """A scheduled screen: first as soon as a full window exists, then every ``every``."""
        w, every = self.config.screen.window, self.config.screen.every
        return seq >= w and (seq - w) % every == 0

    def planned_screens(
        self,
        request_times: list[datetime],
        bars: list[BarClose],
        *,
        complete_through: datetime | None = None,
        released: bool = False,
    ) -> list[ScreenInput]:
        """The inputs of every screen that the requests (as of ``request_times``) and then
        ``on_bars``/``on_released`` of ``bars`` would run, in order, without running them
        and without changing this pipeline: a screen's input depends on the universe only
        (never on a screen's outcome), so a copy of the universe walks the same schedule."""
        planned = [self._screen_input(self.universe, t) for t in request_times]
        # At most one complete time per distinct open bar time: most steps can reach no
        # scheduled screen, and then need no copy of the universe.
        u = self.universe
        open_times = {
            *u.pending,
            *(b.bar_time for b in bars),
            *(d.bar.bar_time for d in u.deferred),
        }
        if not any(self._screen_due(u.n_complete + k) for k in range(1, len(open_times) + 1)):
            return [p for p in planned if p is not None and len(p.symbols) >= 2]
        universe = self.universe.copy()
        for bar in bars:
            universe.observe(bar)
        if released:
            complete_through = max((b.bar_time for b in bars), default=None)
        while (done := universe.advance(complete_through)) is not None:
            if self._screen_due(done.seq):
                planned.append(self._screen_input(universe, done.bar_time))
        return [p for p in planned if p is not None and len(p.symbols) >= 2]

    def _window(self, universe: Universe, as_of: datetime) -> tuple[int, np.ndarray] | str:
        """(end, closes) of the screen window ending at ``as_of``, or why there is none."""
        times = universe.times
        w = self.config.screen.window
        if as_of not in times:
            return f"{as_of.isoformat()} is not a complete bar time in memory"
        end = times.index(as_of) + 1
        if end < w:
            return f"only {end} complete bar times, the screen window needs {w}"
        return end, universe.effective()[end - w : end]

    def _screen_input(self, universe: Universe, as_of: datetime) -> ScreenInput | None:
        window = self._window(universe, as_of)
        if isinstance(window, str):
            return None
        return screen_input(window[1], universe.symbols, self.config.screen)

    def screen(self, as_of: datetime, screen_id: uuid.UUID, fx: Effects) -> str:
        """Screen the window ending at ``as_of``; returns a one-line outcome."""
        times = self.universe.times
        w = self.config.screen.window
        found = self._window(self.universe, as_of)
        if isinstance(found, str):
            fx.screens.append((screen_id, as_of, found))
            return found
        end, closes = found
        symbols = self.universe.symbols
        run = screen_matrix(closes, symbols, self.config.screen, self.screen_fn)
        window = (times[end - w], as_of)
        seen: set[tuple[str, str]] = set()
        for r in self._results_to_step(run.results):
            key = pair_key(r.a, r.b)
            if not all(map(math.isfinite, (r.hedge_ratio, r.intercept, r.adf_stat, r.pvalue))):
                continue  # untestable (e.g. collinear legs): a tracked pair counts it as missing
            seen.add(key)
            rec = self.pairs.get(key)
            outcome = outcome_of(r)
            ok = passes(outcome, self.config.lifecycle)
            if (rec is None or rec.state == "retired") and not ok:
                continue  # only passing pairs and live tracked pairs are reported
            pid = rec.pair_id if rec is not None else pair_id(r.a, r.b)
            fx.tests.append(self._test_record(pid, r, screen_id, as_of, window, ok, fx))
            self._advance(key, rec, r, as_of, screen_id, closes, fx)
        for key in sorted(set(self.pairs) - seen):
            rec = self.pairs[key]
            if rec.state != "retired":
                self._advance(key, rec, None, as_of, screen_id, closes, fx)
        why = f"screened {len(run.symbols)} symbols, excluded {len(run.excluded)}"
        fx.screens.append((screen_id, as_of, why))
        return why

    def _results_to_step(self, results: Sequence[PairScreenResult]) -> Iterable[PairScreenResult]:
        """The results the screen's loop does not skip, in record order. From a ScreenTable
        only testable pairs that pass or are tracked are built (a vectorised filter, ~0.1 us
        a pair, instead of a record and a trip round the loop, ~8.5 us); the loop checks each
        again, so the filter need only keep every one of them."""
        if not isinstance(results, ScreenTable):
            return results
        res, s = results.arrays, self.config.lifecycle
        testable = (
            np.isfinite(res.hedge_ratio)
            & np.isfinite(res.intercept)
            & np.isfinite(res.adf_stat)
            & np.isfinite(res.pvalue)
        )
        passing = passing_mask(res.pvalue_adjusted, res.half_life, res.hurst, s)
        keep = testable & (passing | self._tracked_rows(results))
        return results.records(np.flatnonzero(keep))

    def _tracked_rows(self, table: ScreenTable) -> NDArray[np.bool_]:
        """Rows of the table that are pairs with a record (any state, retired too)."""
        res, n = table.arrays, len(table.symbols)
        column = {symbol: i for i, symbol in enumerate(table.symbols)}
        wanted = [
            min(column[a], column[b]) * n + max(column[a], column[b])
            for a, b in self.pairs
            if a in column and b in column
        ]
        if not wanted:
            return np.zeros(len(res.a_index), dtype=bool)
        low, high = np.minimum(res.a_index, res.b_index), np.maximum(res.a_index, res.b_index)
        return np.isin(low.astype(np.int64) * n + high, np.asarray(wanted, dtype=np.int64))

    def _advance(
        self,
        key: tuple[str, str],
        rec: PairRecord | None,
        r: PairScreenResult | None,
        as_of: datetime,
        screen_id: uuid.UUID,
        closes: np.ndarray,
        fx: Effects,
    ) -> None:
        a, b = (rec.a, rec.b) if rec is not None else (r.a, r.b) if r is not None else key
        pid = pair_id(a, b) if rec is None else rec.pair_id
        new, changes = step(
            rec,
            outcome_of(r) if r is not None else None,
            pair_id=pid,
            a=a,
            b=b,
            as_of=as_of,
            settings=self.config.lifecycle,
        )
        if new is None:
            return
        if new != rec:
            self.pairs[key] = new
            fx.pairs[pid] = new
        hl = finite_or_none(r.half_life) if r is not None else None
        for ch in changes:
            if ch.to_state == "active":
                col_a, col_b = self.universe.column(a), self.universe.column(b)
                tr = start_tracker(
                    pid, a, b, closes[:, col_a], closes[:, col_b], as_of, hl, self.config.spread
                )
                self.trackers[pid] = tr
                fx.trackers[pid] = tr
                fx.trackers_removed.discard(pid)
            elif ch.from_state == "active":
                self.trackers.pop(pid, None)
                fx.trackers.pop(pid, None)
                fx.trackers_removed.add(pid)
            payload = PairStateChanged(
                pair_id=pid,
                a=a,
                b=b,
                from_state=ch.from_state,
                to_state=ch.to_state,
                reason=ch.reason,
                as_of=as_of,
                hedge_ratio=finite_or_none(r.hedge_ratio) if r is not None else None,
                pvalue=finite_or_none(r.pvalue_adjusted) if r is not None else None,
                half_life=hl,
            )
            eid = derive_id("pair-state", pid, screen_id, ch.from_state or "", ch.to_state)
            fx.events.append(OutEvent(PAIRS_LIFECYCLE.name, pid, eid, as_of, payload))
        if new.state == "active" and pid in self.trackers and not changes and r is not None:
            tr = self.trackers[pid]
            if tr.half_life != hl:
                self.trackers[pid] = fx.trackers[pid] = replace(tr, half_life=hl)

    def _test_record(
        self,
        pid: str,
        r: PairScreenResult,
        screen_id: uuid.UUID,
        as_of: datetime,
        window: tuple[datetime, datetime],
        ok: bool,
        fx: Effects,
    ) -> TestRecord:
        payload = PairTested(
            pair_id=pid,
            a=r.a,
            b=r.b,
            window_start=window[0],
            window_end=window[1],
            n_obs=max(1, r.nobs),
            hedge_ratio=r.hedge_ratio,
            intercept=r.intercept,
            adf_stat=r.adf_stat,
            pvalue=r.pvalue,
            pvalue_adjusted=finite_or_none(r.pvalue_adjusted),
            n_tests=max(1, r.n_tests),
            lag=r.lag,
            crit_values={"1%": r.crit_1pct, "5%": r.crit_5pct, "10%": r.crit_10pct},
            half_life=finite_or_none(r.half_life),
            hurst=finite_or_none(r.hurst),
        )
        eid = derive_id("pair-tested", pid, screen_id)
        fx.events.append(OutEvent(PAIRS_TESTS.name, pid, eid, as_of, payload))
        return TestRecord(pid, screen_id, as_of, ok, payload)

    def _spread_event(self, p: SpreadPoint) -> OutEvent:
        payload = SpreadUpdated(
            pair_id=p.pair_id,
            a=p.a,
            b=p.b,
            bar_time=p.bar_time,
            interval=self.config.interval,
            price_a=p.price_a,
            price_b=p.price_b,
            spread=p.spread,
            z_score=p.z_score,
            hedge_ratio=p.hedge_ratio,
            intercept=p.intercept,
            hedge_ratio_variance=p.hedge_ratio_variance,
            half_life=p.half_life,
            lookback=self.config.spread.lookback,
        )
        eid = derive_id("spread", p.pair_id, self.config.interval, p.bar_time)
        return OutEvent(PAIRS_SPREADS.name, p.pair_id, eid, p.bar_time, payload)
