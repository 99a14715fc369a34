"""Hypothesis strategies: parameter sets and streams of bars for one pair."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from core.strategy import (
    PairLifecycle,
    RegimeState,
    SpreadObservation,
    StrategyParams,
)
from core.strategy.model import Sizing

SIZING_CHOICES: tuple[Sizing, ...] = ("dollar_neutral", "beta_neutral")
PAIR = "KO~PEP"
START = datetime(2024, 1, 2, 21, 0, tzinfo=UTC)


@st.composite
def strategy_params(draw: st.DrawFn, version: str | None = None) -> StrategyParams:
    entry = draw(st.floats(0.5, 3.0))
    exit_z = draw(st.floats(-entry * 0.9, entry * 0.9))
    stop = draw(st.one_of(st.just(math.inf), st.floats(entry + 0.1, 8.0)))
    k = draw(st.one_of(st.just(math.inf), st.floats(0.3, 4.0)))
    sizing: Sizing = draw(st.sampled_from(SIZING_CHOICES))
    return StrategyParams(
        entry_z=entry,
        exit_z=exit_z,
        stop_z=stop,
        lookback=draw(st.integers(2, 300)),
        time_stop_half_lives=k,
        sizing=sizing,
        version=version or f"v{draw(st.integers(0, 10_000))}",
    )


@dataclass(frozen=True)
class Bar:
    obs: SpreadObservation
    lifecycle: PairLifecycle
    regime: RegimeState
    new_params: StrategyParams | None  # applied just before the bar


@st.composite
def bar_streams(draw: st.DrawFn, min_size: int = 1, max_size: int = 60) -> list[Bar]:
    n = draw(st.integers(min_size, max_size))
    z_values = st.one_of(
        st.floats(-7.0, 7.0),
        st.just(math.nan),
        st.sampled_from([-4.0, -2.0, -0.5, 0.0, 0.5, 2.0, 4.0]),
    )
    half_lives = st.one_of(st.floats(0.2, 20.0), st.sampled_from([math.inf, math.nan, 0.0, 1.0]))
    lifecycles = st.sampled_from(
        [PairLifecycle.ACTIVE] * 6
        + [PairLifecycle.CANDIDATE, PairLifecycle.DEGRADED, PairLifecycle.RETIRED]
    )
    bars = []
    for i in range(n):
        obs = SpreadObservation(
            pair_id=PAIR,
            bar_time=START + timedelta(days=i),
            z_score=draw(z_values),
            hedge_ratio=draw(st.floats(-3.0, 3.0)),
            half_life=draw(half_lives),
            spread=draw(st.floats(-10.0, 10.0)),
            price_a=draw(st.floats(1.0, 500.0)),
            price_b=draw(st.floats(1.0, 500.0)),
        )
        no_trade = draw(st.integers(0, 4)) == 0
        regime = RegimeState(label="calm" if not no_trade else "crisis", no_trade=no_trade)
        new_params = draw(strategy_params()) if draw(st.integers(0, 9)) == 0 else None
        bars.append(Bar(obs, draw(lifecycles), regime, new_params))
    return bars
