"""Events, configs and a batch context for regime service unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import numpy as np

from core.regime import SCOPE_SPECS, RefitPolicy, RegimeScope, ShiftDetectorSettings, TrackerConfig
from services.regime.handlers import RegimeConfig
from shared.clock import ManualClock
from shared.events import Bar, Envelope, SpreadUpdated, bar_id, derive_id, make_envelope
from shared.runtime.batch import BatchContext
from shared.runtime.records import TopicNames

T0 = datetime(2020, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def day(i: int) -> datetime:
    return T0 + i * DAY


def bar_envelope(symbol: str, start: datetime, close: float, revision: int = 0) -> Envelope[Any]:
    bar = Bar(
        bar_id=bar_id(symbol, "1d", start),
        symbol=symbol,
        interval="1d",
        start=start,
        end=start + DAY,
        open=close,
        high=close,
        low=close,
        close=close,
        volume=1.0,
        vwap=close,
        trade_count=1,
        revision=revision,
    )
    return make_envelope(
        bar,
        event_id=bar.event_id(),
        occurred_at=bar.end,
        key=symbol,
        producer="test",
        produced_at=T0,
    )


def spread_envelope(
    pair: str, bar_time: datetime, price_a: float, price_b: float, hedge_ratio: float
) -> Envelope[Any]:
    a, b = pair.split("~")
    spread = float(np.log(price_a) - hedge_ratio * np.log(price_b))
    update = SpreadUpdated(
        pair_id=pair,
        a=a,
        b=b,
        bar_time=bar_time,
        price_a=price_a,
        price_b=price_b,
        spread=spread,
        z_score=None,
        hedge_ratio=hedge_ratio,
        lookback=20,
    )
    return make_envelope(
        update,
        event_id=derive_id("test-spread", pair, bar_time),
        occurred_at=bar_time,
        key=pair,
        producer="test",
        produced_at=T0,
    )


def tracker_config(
    kind: RegimeScope = RegimeScope.MARKET,
    every: int = 40,
    window: int = 200,
    min_bars: int = 120,
    threshold: float = 0.8,
    min_shift_bars: int = 3,
) -> TrackerConfig:
    return TrackerConfig(
        kind,
        SCOPE_SPECS[kind],
        RefitPolicy(every_bars=every, window_bars=window, min_bars=min_bars),
        ShiftDetectorSettings(threshold=threshold, min_bars=min_shift_bars),
    )


def regime_config(**clock: Any) -> RegimeConfig:
    return RegimeConfig(
        bar_interval="1d",
        market=tracker_config(RegimeScope.MARKET),
        pair=tracker_config(RegimeScope.PAIR_SPREAD),
        **clock,
    )


def batch_context() -> BatchContext:
    return BatchContext(
        conn=cast(Any, None),
        topics=TopicNames(),
        clock=ManualClock(T0),
        producer_name="titan-regime",
    )


def switching_returns(seed: int, segments: list[tuple[int, float]]) -> np.ndarray:
    """Gaussian returns (percent) with the given (length, sigma) segments."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, sigma, n) for n, sigma in segments])


def prices_from_returns(returns: np.ndarray, start: float = 100.0) -> np.ndarray:
    return start * np.exp(np.concatenate([[0.0], np.cumsum(returns)]) / 100.0)
