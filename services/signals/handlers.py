"""Topic handlers of the signals service: decode, run the engine, write, emit.

Every handler runs inside the batch transaction. The engine's in-memory state is mutated
while the same changes are written to the tables; if the batch fails, the runtime calls
on_start again, which reloads the engine from the tables (nothing of the failed attempt
survives). Routes are ordered control events first, spreads last, so that within a batch
lifecycle, regime and parameter events are known before the spreads they may concern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import asyncpg
from prometheus_client import CollectorRegistry, Counter

from core.strategy import PairLifecycle, SpreadObservation
from services.signals.domain import SignalEngine
from services.signals.domain.convert import (
    lifecycle_change,
    param_set,
    regime_mark,
    signal_event_id,
    signal_payload,
    spread_observation,
)
from services.signals.domain.records import EngineSnapshot, ParamSet, RegimeMark
from services.signals.store import SignalsStore
from shared.events.regime import MARKET_SCOPE
from shared.runtime.batch import BatchContext, Decoder, DecodeResult, Route, envelope_decoder
from shared.runtime.records import ConsumedRecord
from shared.topics import PAIRS_LIFECYCLE, PAIRS_SPREADS, PARAMS, REGIME_SHIFTS, SIGNALS

T = TypeVar("T")
EngineFactory = Callable[[EngineSnapshot], SignalEngine]
StoreFor = Callable[[asyncpg.Connection], SignalsStore]


def domain_decoder(contract_topic: str, convert: Callable[[Any], T]) -> Decoder[T]:
    """Envelope decoding plus conversion to domain values; either failing dead-letters."""
    return envelope_decoder(contract_topic, convert, rejected_by="the signals service")


_LIFECYCLE_RANK = {state: i for i, state in enumerate(PairLifecycle)}


def _shift_order(item: tuple[str, RegimeMark]) -> tuple[datetime, tuple[Any, ...]]:
    scope, mark = item
    return mark.bar_time, (scope, mark.regime)


def _lifecycle_order(item: tuple[str, PairLifecycle, datetime]) -> tuple[datetime, tuple[Any, ...]]:
    # Changes of one pair at one screen go forward: candidate, active, degraded, retired.
    pair_id, lifecycle, as_of = item
    return as_of, (pair_id, _LIFECYCLE_RANK[lifecycle])


def _spread_order(obs: SpreadObservation) -> tuple[datetime, tuple[Any, ...]]:
    return obs.bar_time, (obs.pair_id,)


def _params_order(item: tuple[ParamSet, datetime]) -> tuple[datetime, tuple[Any, ...]]:
    params, applies_from = item
    return applies_from, (params.pair_key, -1 if params.regime is None else params.regime)


def params_decoder() -> Decoder[tuple[ParamSet, datetime]]:
    """(parameter set, the bar time it applies from: the envelope's occurred_at)."""
    decode = envelope_decoder(PARAMS.name)

    def _decode(records: Sequence[ConsumedRecord]) -> DecodeResult:
        items: list[Any] = []
        dead: list[tuple[ConsumedRecord, str]] = []
        for record in records:
            envelopes, rejected = decode([record])
            dead.extend(rejected)
            for envelope in envelopes:
                try:
                    items.append((param_set(envelope.payload), envelope.occurred_at))
                except ValueError as exc:
                    dead.append((record, f"rejected by the signals service: {exc}"))
        return items, dead

    return _decode


class SignalsHandlers:
    """Holds the engine (rebuilt by `load`) and handles the four input topics."""

    def __init__(
        self,
        make_engine: EngineFactory,
        store_for: StoreFor,
        registry: CollectorRegistry | None = None,
        *,
        await_params: bool = False,
    ) -> None:
        self.make_engine = make_engine
        self.store_for = store_for
        self.await_params = await_params
        self._engine: SignalEngine | None = None
        self.emitted = Counter(
            "titan_signals_emitted",
            "Signals emitted, by action",
            ["action"],
            registry=registry if registry is not None else CollectorRegistry(),
        )

    @property
    def engine(self) -> SignalEngine:
        if self._engine is None:
            raise RuntimeError("signals engine used before its state was loaded (on_start)")
        return self._engine

    async def load(self, store: SignalsStore) -> None:
        self._engine = self.make_engine(await store.load_snapshot())

    def routes(self) -> list[Route[Any]]:
        """Shifts, lifecycle changes and spreads are joined by event time (contract rule 7):
        a spread at t is decided once every one of them has passed t, after the parameter
        sets, shifts and lifecycle changes at t (route order). Parameter sets apply from their
        event time (the activation that caused them); they are waited for only with
        `await_params` (a backtest service publishes them and their watermark), else applied
        on arrival."""
        return [
            Route(
                PARAMS.name,
                self.on_params,
                params_decoder(),
                aligned=_params_order if self.await_params else None,
            ),
            Route(
                REGIME_SHIFTS.name,
                self.on_regime,
                domain_decoder(REGIME_SHIFTS.name, regime_mark),
                aligned=_shift_order,
            ),
            Route(
                PAIRS_LIFECYCLE.name,
                self.on_lifecycle,
                domain_decoder(PAIRS_LIFECYCLE.name, lifecycle_change),
                aligned=_lifecycle_order,
            ),
            Route(
                PAIRS_SPREADS.name,
                self.on_spreads,
                domain_decoder(PAIRS_SPREADS.name, spread_observation),
                aligned=_spread_order,
            ),
        ]

    async def on_params(self, items: list[tuple[ParamSet, datetime]], ctx: BatchContext) -> None:
        for param_set_, _applies_from in items:
            self.engine.on_params(param_set_)
        await self._flush(ctx)

    async def on_regime(self, items: list[tuple[str, RegimeMark]], ctx: BatchContext) -> None:
        for scope, mark in items:
            if scope == MARKET_SCOPE:
                self.engine.on_market_shift(mark)
            else:
                self.engine.on_pair_regime(scope, mark)
        await self._flush(ctx)

    async def on_lifecycle(
        self, items: list[tuple[str, PairLifecycle, datetime]], ctx: BatchContext
    ) -> None:
        for pair_id, lifecycle, as_of in items:
            self.engine.on_lifecycle(pair_id, lifecycle, as_of)
        await self._flush(ctx)

    async def on_spreads(self, items: list[SpreadObservation], ctx: BatchContext) -> None:
        for obs in items:
            self.engine.on_spread(obs)
        await self._flush(ctx)

    async def _flush(self, ctx: BatchContext) -> None:
        changes = self.engine.take_changes()
        if changes.empty():
            return
        await self.store_for(ctx.conn).save(changes)
        for signal in changes.signals:
            ctx.emit_event(
                SIGNALS.name,
                signal_payload(signal),
                event_id=signal_event_id(signal),
                occurred_at=signal.bar_time,
                key=signal.pair_id,
            )
            self.emitted.labels(signal.action.value).inc()
