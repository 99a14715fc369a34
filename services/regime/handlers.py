"""regime handlers: bars and spreads in; probabilities, fits, shifts stored; shifts out.

State (universe clock, per-scope trackers, last spread per pair) lives in tables, is loaded
by `load` (on start, and again by the runtime before a failed batch is retried) and is
mutated in memory while the same changes are written in the batch transaction.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry

from core.regime import Fitter, ScopeStep, ScopeTracker, TrackerConfig, fit_in_process
from services.regime.domain import SpreadInput, UniverseClock
from services.regime.fit_pool import FitPool
from services.regime.metrics import RegimeMetrics
from services.regime.store import (
    CloseRow,
    FitRow,
    ProbabilityRow,
    RegimeStore,
    ShiftRow,
    TrackerRow,
)
from shared.events import (
    MARKET_SCOPE,
    Bar,
    Envelope,
    RegimeShifted,
    SpreadUpdated,
    derive_id,
    make_envelope,
)
from shared.runtime.batch import BatchContext
from shared.topics import REGIME_SHIFTS


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    bar_interval: str
    market: TrackerConfig
    pair: TrackerConfig
    benchmark: str | None = None
    universe: tuple[str, ...] | None = None
    stale_after: int = 20
    # Fit processes (fit_pool.py): 0 fits in-process, one scope after the other.
    fit_workers: int = 0

    def new_clock(self) -> UniverseClock:
        return UniverseClock(
            members=self.universe, benchmark=self.benchmark, stale_after=self.stale_after
        )


def shift_event_id(scope: str, bar_time: datetime, to_regime: int) -> Any:
    return derive_id("regime-shift", scope, bar_time, to_regime)


@dataclass
class _Effects:
    closes: list[CloseRow] = field(default_factory=list)
    observations: list[tuple[str, datetime, float]] = field(default_factory=list)
    probabilities: list[ProbabilityRow] = field(default_factory=list)
    fits: list[FitRow] = field(default_factory=list)
    shifts: list[ShiftRow] = field(default_factory=list)
    last_step: dict[str, ScopeStep] = field(default_factory=dict)
    clock_changed: bool = False


class RegimeService:
    def __init__(
        self, store: RegimeStore, config: RegimeConfig, registry: CollectorRegistry | None = None
    ) -> None:
        self.store = store
        self.fit_pool = FitPool(config.fit_workers) if config.fit_workers > 0 else None
        self.metrics = RegimeMetrics(registry)
        fit = self.fit_pool.fit if self.fit_pool is not None else fit_in_process
        self.fitters = {kind: self.metrics.timed(fit, kind) for kind in ("market", "pair")}
        self.config = config
        self.clock = config.new_clock()
        self.trackers: dict[str, ScopeTracker] = {}
        self.spread_inputs: dict[str, SpreadInput] = {}
        self.latest: dict[str, TrackerRow] = {}

    def _fitter(self, scope: str) -> Fitter:
        return self.fitters["market" if scope == MARKET_SCOPE else "pair"]

    def _tracker_config(self, scope: str) -> TrackerConfig:
        return self.config.market if scope == MARKET_SCOPE else self.config.pair

    async def load(self, conn: Any) -> None:
        window = max(self.config.market.refit.window_bars, self.config.pair.refit.window_bars)
        loaded = await self.store.load(conn, window)
        clock = UniverseClock.from_dict(loaded.clock) if loaded.clock else None
        if clock is None or not clock.matches(self.config.universe, self.config.benchmark):
            clock = self.config.new_clock()
        clock.stale_after = self.config.stale_after
        self.clock = clock
        self.trackers, self.spread_inputs, self.latest = {}, {}, {}
        for row in loaded.trackers:
            cfg = self._tracker_config(row.scope)
            keep = cfg.refit.window_bars
            window_rows = loaded.windows.get(row.scope, [])[-keep:]
            self.trackers[row.scope] = ScopeTracker.restore(row.scope, cfg, row.state, window_rows)
            self.trackers[row.scope].fitter = self._fitter(row.scope)
            if row.spread_input is not None:
                self.spread_inputs[row.scope] = SpreadInput.from_dict(row.spread_input)
            self.latest[row.scope] = row
        self.metrics.scopes.set(len(self.trackers))

    async def handle_bars(self, items: list[Envelope[Bar]], ctx: BatchContext) -> None:
        """Bars released by event time (the route is aligned): each call holds every bar of
        the bar times it covers, in (time, symbol, revision) order."""
        fx = _Effects()
        bars = [e.payload for e in items if e.payload.interval == self.config.bar_interval]
        for bar in bars:
            fx.closes.append(CloseRow(bar.symbol, bar.start, bar.close, bar.revision))
            fx.clock_changed = True
        for point in self.clock.add_released([(b.symbol, b.start, b.close) for b in bars]):
            if point.value is not None:
                self._observe(MARKET_SCOPE, point.bar_time, point.value, fx)
        await self._write(fx, ctx)

    async def handle_spreads(self, items: list[Envelope[SpreadUpdated]], ctx: BatchContext) -> None:
        """Each pair scope's updates in their order; scopes are independent of each other, so
        with a fit pool they are processed side by side (their fits on every core)."""
        by_scope: dict[str, list[SpreadUpdated]] = {}
        for envelope in items:
            update = envelope.payload
            if update.interval == self.config.bar_interval and update.pair_id != MARKET_SCOPE:
                by_scope.setdefault(update.pair_id, []).append(update)
        scopes = sorted(by_scope)
        pool = self.fit_pool
        if pool is None or len(scopes) < 2:
            parts = [self._spread_scope(by_scope[s]) for s in scopes]
        else:
            loop = asyncio.get_running_loop()
            parts = list(
                await asyncio.gather(
                    *(loop.run_in_executor(pool.threads, self._spread_scope, by_scope[s])
                      for s in scopes)
                )
            )  # fmt: skip
        await self._write(_merged(parts), ctx)

    def _spread_scope(self, updates: list[SpreadUpdated]) -> _Effects:
        """One pair scope's updates of a batch, in order (touches only that scope's state)."""
        fx = _Effects()
        for update in updates:
            current = SpreadInput(
                update.bar_time,
                update.spread,
                update.price_a,
                update.price_b,
                update.hedge_ratio,
                update.intercept,
            )
            previous = self.spread_inputs.get(update.pair_id)
            if previous is not None and update.bar_time <= previous.bar_time:
                continue  # a replayed or out-of-order update: the pair's series moves forward
            self.spread_inputs[update.pair_id] = current
            if previous is None:
                self._ensure_tracker(update.pair_id)
                fx.last_step.setdefault(update.pair_id, _no_step(update.bar_time))
                continue
            self._observe(update.pair_id, update.bar_time, previous.change_to(current), fx)
        return fx

    def _ensure_tracker(self, scope: str) -> ScopeTracker:
        tracker = self.trackers.get(scope)
        if tracker is None:
            tracker = ScopeTracker(scope, self._tracker_config(scope))
            tracker.fitter = self._fitter(scope)
            self.trackers[scope] = tracker
            self.metrics.scopes.set(len(self.trackers))
        return tracker

    def _observe(self, scope: str, bar_time: datetime, value: float, fx: _Effects) -> None:
        tracker = self._ensure_tracker(scope)
        step = tracker.observe(bar_time, value)
        if step is None:
            return
        fx.observations.append((scope, bar_time, step.value))
        fx.last_step[scope] = step
        if step.fitted is not None and step.window is not None:
            fx.fits.append(
                FitRow(
                    scope,
                    step.fitted.version,
                    bar_time,
                    step.fitted.to_dict(),
                    step.window[0],
                    step.window[1],
                    step.fitted.nobs,
                    step.fitted.llf,
                )
            )
        if step.probabilities is not None and step.model is not None and step.label is not None:
            fx.probabilities.append(
                ProbabilityRow(
                    scope,
                    bar_time,
                    step.probabilities,
                    step.label,
                    step.regime,
                    step.model.version,
                )
            )
        if step.shift is not None and step.model is not None:
            names = tracker.config.names
            fx.shifts.append(
                ShiftRow(
                    scope=scope,
                    bar_time=bar_time,
                    event_id=shift_event_id(scope, bar_time, step.shift.to_regime),
                    from_regime=step.shift.from_regime,
                    to_regime=step.shift.to_regime,
                    from_name=names[step.shift.from_regime],
                    to_name=names[step.shift.to_regime],
                    probability=step.shift.probability,
                    model=step.model.kind.value,
                    model_version=step.model.version,
                )
            )

    async def _write(self, fx: _Effects, ctx: BatchContext) -> None:
        conn = ctx.conn
        await self.store.save_closes(conn, fx.closes)
        if fx.clock_changed:
            await self.store.save_clock(conn, self.clock.to_dict())
        await self.store.save_observations(conn, fx.observations)
        await self.store.save_probabilities(conn, fx.probabilities)
        await self.store.save_fits(conn, fx.fits)
        await self.store.save_shifts(conn, fx.shifts)
        rows = [self._tracker_row(scope, step) for scope, step in sorted(fx.last_step.items())]
        await self.store.save_trackers(conn, rows)
        for row in rows:
            self.latest[row.scope] = row
        now = ctx.clock.now()
        for s in fx.shifts:
            payload = RegimeShifted(
                scope=s.scope,
                bar_time=s.bar_time,
                from_regime=s.from_regime,
                to_regime=s.to_regime,
                from_name=s.from_name,
                to_name=s.to_name,
                probability=s.probability,
                model=s.model,
                model_version=s.model_version,
            )
            envelope = make_envelope(
                payload,
                event_id=s.event_id,
                occurred_at=s.bar_time,
                key=s.scope,
                producer=ctx.producer_name,
                produced_at=now,
            )
            if s.scope == MARKET_SCOPE:
                # Every pair needs the market regime, and a pair's events meet in its
                # partition (signals is co-partitioned): one copy to each, one event id.
                ctx.broadcast(REGIME_SHIFTS.name, envelope)
            else:
                ctx.emit(REGIME_SHIFTS.name, envelope)

    def _tracker_row(self, scope: str, step: ScopeStep) -> TrackerRow:
        tracker = self.trackers[scope]
        names = tracker.config.names
        regime = tracker.detector.current_regime if tracker.detector is not None else None
        spread = self.spread_inputs.get(scope)
        return TrackerRow(
            scope=scope,
            kind=tracker.config.kind.value,
            bar_time=step.bar_time,
            regime=regime,
            regime_name=names[regime] if regime is not None else None,
            label=step.label,
            probabilities=step.probabilities,
            model_version=tracker.model.version if tracker.model is not None else None,
            state=tracker.state_dict(),
            spread_input=spread.to_dict() if spread is not None else None,
        )


def _merged(parts: list[_Effects]) -> _Effects:
    fx = _Effects()
    for part in parts:
        fx.closes += part.closes
        fx.observations += part.observations
        fx.probabilities += part.probabilities
        fx.fits += part.fits
        fx.shifts += part.shifts
        fx.last_step.update(part.last_step)
        fx.clock_changed |= part.clock_changed
    return fx


def _no_step(bar_time: datetime) -> ScopeStep:
    """A pair's first update: no change to observe yet, but the scope now exists."""
    return ScopeStep(bar_time, 0.0, None, None, None, None, None, None, None)
