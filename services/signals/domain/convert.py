"""Contract events in, strategy-core values out, and back (pure; raises ValueError on bad input)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from core.strategy import (
    PairLifecycle,
    Signal,
    SpreadObservation,
    StrategyParams,
    split_pair_id,
)
from services.signals.domain.records import ANY_PAIR, ParamSet, RegimeMark
from shared.events import (
    MARKET_SCOPE,
    Leg,
    PairStateChanged,
    ParametersPublished,
    RegimeShifted,
    SignalEmitted,
    SpreadUpdated,
    ensure_utc,
)


def spread_observation(event: SpreadUpdated) -> SpreadObservation:
    """A missing z-score or half-life becomes NaN: no z rule fires, no time stop is set."""
    split_pair_id(event.pair_id)
    return SpreadObservation(
        pair_id=event.pair_id,
        bar_time=ensure_utc(event.bar_time),
        z_score=math.nan if event.z_score is None else event.z_score,
        hedge_ratio=event.hedge_ratio,
        half_life=math.nan if event.half_life is None else event.half_life,
        spread=event.spread,
        price_a=event.price_a,
        price_b=event.price_b,
    )


def lifecycle_change(event: PairStateChanged) -> tuple[str, PairLifecycle, datetime]:
    split_pair_id(event.pair_id)
    return event.pair_id, PairLifecycle(event.to_state), ensure_utc(event.as_of)


def regime_mark(event: RegimeShifted) -> tuple[str, RegimeMark]:
    """(scope, mark); scope is `market` or a pair id."""
    if event.scope != MARKET_SCOPE:
        split_pair_id(event.scope)
    return event.scope, RegimeMark(ensure_utc(event.bar_time), event.to_regime, event.to_name)


def param_set(event: ParametersPublished) -> ParamSet:
    """Validated by the strategy core too (e.g. -entry_z < exit_z < entry_z < stop_z)."""
    if event.pair_id != ANY_PAIR:
        split_pair_id(event.pair_id)
    p = event.params
    params = StrategyParams(
        entry_z=p.entry_z,
        exit_z=p.exit_z,
        stop_z=p.stop_z,
        lookback=p.lookback,
        time_stop_half_lives=math.inf if p.time_stop_half_lives is None else p.time_stop_half_lives,
        sizing=p.sizing,
        version=event.version,
    )
    return ParamSet(event.pair_id, event.regime, params, no_trade=p.no_trade)


def signal_payload(signal: Signal) -> SignalEmitted:
    return SignalEmitted(
        signal_id=signal.signal_id,
        pair_id=signal.pair_id,
        action=signal.action.value,
        reason=signal.reason,
        bar_time=signal.bar_time,
        z_score=signal.z_score if math.isfinite(signal.z_score) else None,
        hedge_ratio=signal.hedge_ratio,
        regime=int(signal.regime) if signal.regime else None,
        params_version=signal.params_version,
        legs=[Leg(symbol=leg.symbol, side=leg.side, weight=leg.weight) for leg in signal.legs],
    )


def signal_event_id(signal: Signal) -> uuid.UUID:
    """The envelope's event id is the strategy core's deterministic signal id."""
    return uuid.UUID(signal.signal_id)
