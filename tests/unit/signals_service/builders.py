"""Contract events and domain inputs for the signals-service tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.signals.domain.convert import (
    lifecycle_change,
    param_set,
    regime_mark,
    spread_observation,
)
from shared.events import (
    Envelope,
    PairStateChanged,
    ParametersPublished,
    Payload,
    RegimeShifted,
    SpreadUpdated,
    StrategyParameters,
    make_envelope,
)
from shared.runtime.records import ConsumedRecord

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def bar(i: int) -> datetime:
    return T0 + timedelta(days=i)


def spread(
    pair_id: str, i: int, z: float | None, *, half_life: float | None = 5.0
) -> SpreadUpdated:
    a, b = pair_id.split("~")
    return SpreadUpdated(
        pair_id=pair_id,
        a=a,
        b=b,
        bar_time=bar(i),
        price_a=100.0 + i % 7,
        price_b=50.0 + i % 5,
        spread=0.1 * (z or 0.0),
        z_score=z,
        hedge_ratio=1.5,
        half_life=half_life,
        lookback=60,
    )


def lifecycle(pair_id: str, state: str, i: int) -> PairStateChanged:
    a, b = pair_id.split("~")
    return PairStateChanged(
        pair_id=pair_id, a=a, b=b, from_state=None, to_state=state, reason="test", as_of=bar(i)
    )


def shift(scope: str, i: int, regime: int, name: str | None = None) -> RegimeShifted:
    return RegimeShifted(
        scope=scope,
        bar_time=bar(i),
        from_regime=None,
        to_regime=regime,
        to_name=name or f"r{regime}",
        probability=0.9,
        model="test",
        model_version="1",
    )


def params(
    pair_id: str, regime: int | None, version: str, *, no_trade: bool = False, **values: Any
) -> ParametersPublished:
    base: dict[str, Any] = dict(
        entry_z=2.0, exit_z=0.5, stop_z=4.0, lookback=60, time_stop_half_lives=3.0
    )
    base.update(values)
    return ParametersPublished(
        pair_id=pair_id,
        regime=regime,
        version=version,
        params=StrategyParameters(**base, no_trade=no_trade),
    )


def envelope(payload: Payload, key: str, occurred_at: datetime | None = None) -> Envelope[Any]:
    return make_envelope(
        payload,
        event_id=uuid.uuid4(),
        occurred_at=occurred_at or T0,
        key=key,
        producer="test",
        produced_at=T0,
    )


def record(
    topic: str, env: Envelope[Any], offset: int = 0, value: bytes | None = None
) -> ConsumedRecord:
    return ConsumedRecord(
        topic=topic,
        partition=0,
        offset=offset,
        key=env.key.encode(),
        value=env.to_bytes() if value is None else value,
    )


def feed(engine: Any, event: Payload) -> None:
    """Apply one contract payload to a SignalEngine the way the handlers do."""
    if isinstance(event, SpreadUpdated):
        engine.on_spread(spread_observation(event))
    elif isinstance(event, PairStateChanged):
        engine.on_lifecycle(*lifecycle_change(event))
    elif isinstance(event, RegimeShifted):
        scope, mark = regime_mark(event)
        if scope == "market":
            engine.on_market_shift(mark)
        else:
            engine.on_pair_regime(scope, mark)
    elif isinstance(event, ParametersPublished):
        engine.on_params(param_set(event))
    else:
        raise TypeError(type(event).__name__)
