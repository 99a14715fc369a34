"""Parity: the live signals path, replayed bar by bar, trades exactly as the backtest service.

The backtest service's job (run_job, the code the worker process runs) and the signals
service's engine (SignalEngine -> PairSignalMachine, fed SpreadUpdated events as the live
service is) get the same spread series and the same parameters; every entry and exit must
happen on the same bar, in the same direction, for the same reason. The engine's own unit
tests compare the strategy core with the grid engine; this covers the services' paths.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.strategy import PairLifecycle, SignalAction, StrategyParams
from services.backtest.domain.compute import run_job
from services.backtest.domain.requests import parse_request
from services.backtest.engine import compute_spread_series
from services.signals.domain.convert import spread_observation
from services.signals.domain.engine import SignalEngine
from services.signals.domain.params import ParamsBook
from shared.events import BacktestRequested, SpreadUpdated
from tests.data import msft_ibm_closes


def _live_signals(
    closes: pd.DataFrame, params: StrategyParams, hedge: str
) -> list[tuple[pd.Timestamp, str]]:
    a = closes["MSFT"].to_numpy(np.float64)
    b = closes["IBM"].to_numpy(np.float64)
    series = compute_spread_series(a, b, [params.lookback], hedge)
    engine = SignalEngine(ParamsBook(params))
    first = closes.index[0].to_pydatetime()
    engine.on_lifecycle("MSFT~IBM", PairLifecycle.ACTIVE, first - timedelta(days=1))
    out: list[tuple[pd.Timestamp, str]] = []
    for t, when in enumerate(closes.index):
        hedge_ratio = float(series.hedge_ratio[t, 0])
        if not math.isfinite(hedge_ratio):
            continue  # the pairs service publishes nothing before its first hedge fit
        z, half_life = float(series.z_score[t, 0]), float(series.half_life[t, 0])
        event = SpreadUpdated(
            pair_id="MSFT~IBM", a="MSFT", b="IBM", bar_time=when.to_pydatetime(),
            price_a=a[t], price_b=b[t], spread=0.0, hedge_ratio=hedge_ratio,
            z_score=None if math.isnan(z) else z,
            half_life=None if math.isnan(half_life) else half_life,
            lookback=params.lookback,
        )  # fmt: skip
        signal = engine.on_spread(spread_observation(event))
        if signal is not None:
            out.append((pd.Timestamp(signal.bar_time), signal.action.value))
    return out


def _backtest_signals(trades: list[dict[str, object]]) -> list[tuple[pd.Timestamp, str]]:
    out: list[tuple[pd.Timestamp, str]] = []
    for trade in trades:
        action = (
            SignalAction.OPEN_LONG_SPREAD
            if trade["direction"] == 1
            else (SignalAction.OPEN_SHORT_SPREAD)
        )
        out.append((pd.Timestamp(str(trade["entry_decision_time"])), action.value))
        if trade["exit_decision_time"] is not None:
            out.append((pd.Timestamp(str(trade["exit_decision_time"])), str(trade["reason"])))
    return out


@pytest.mark.parametrize(
    ("params", "hedge"),
    [
        (StrategyParams(entry_z=2.0, exit_z=0.5, stop_z=4.0, lookback=20,
                        time_stop_half_lives=3.0), "rolling"),
        (StrategyParams(entry_z=1.5, exit_z=0.0, stop_z=2.5, lookback=60,
                        time_stop_half_lives=math.inf), "ols"),
    ],
)  # fmt: skip
def test_live_signals_replay_gives_the_backtest_trades(params: StrategyParams, hedge: str) -> None:
    closes = msft_ibm_closes(1500)
    spec = parse_request(
        BacktestRequested(
            request_id="parity", a="MSFT", b="IBM",
            grid={"entry_z": [params.entry_z], "exit_z": [params.exit_z],
                  "stop_z": [params.stop_z], "lookback": [params.lookback],
                  "time_stop_half_lives": [params.time_stop_half_lives]},
            options={"hedge": hedge},
        )
    )  # fmt: skip
    result = run_job(spec, closes)
    expected = _backtest_signals(result.trades)
    live = _live_signals(closes, params, hedge)
    assert len(expected) >= 20  # enough round trips for the comparison to mean something
    assert live == expected
    reasons = {action for _, action in live}
    assert {"open_long_spread", "open_short_spread"} <= reasons
