"""The portfolio backtest's inputs from the pipeline's events, in the live service's order.

`titan demo --offline` (titan/offline.py) and the parity test feed core's
`run_portfolio_backtest` with what the live portfolio service is released (contract rule 7):
the bars' closes by bar start (the highest revision of each), the signals and the lifecycle
changes, in the order the service's routes release them, minus what its decoders
dead-letter and copies of one signal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from core.portfolio import BarOutcome, PairSignal, PortfolioConfig, run_portfolio_backtest
from services.portfolio.convert import latest_closes, lifecycle_change, pair_signal
from services.portfolio.handlers import lifecycle_order, signal_order
from shared.events import Envelope


@dataclass(frozen=True)
class BacktestInputs:
    closes: pd.DataFrame  # index: bar starts (UTC), columns: symbols (sorted), NaN: no bar
    signals: list[PairSignal]
    lifecycle: list[tuple[str, str, datetime]]


def backtest_inputs(events: Mapping[str, Sequence[Envelope[Any]]], interval: str) -> BacktestInputs:
    by_time = latest_closes(list(events.get("market.bars.v1", [])), interval)
    closes = pd.DataFrame.from_dict(by_time, orient="index")
    closes = closes.reindex(columns=sorted(closes.columns)).sort_index()
    signals: dict[str, tuple[tuple[Any, ...], PairSignal]] = {}
    for e in events.get("signals.v1", []):
        try:
            signal = pair_signal(e.payload)
        except ValueError:
            continue  # dead-lettered by the service's decoder
        when, tiebreak = signal_order(signal)
        signals.setdefault(signal.signal_id, ((when, tiebreak, str(e.event_id)), signal))
    changes = []
    for e in events.get("pairs.lifecycle.v1", []):
        change = lifecycle_change(e.payload)
        when, tiebreak = lifecycle_order(change)
        changes.append(((when, tiebreak, str(e.event_id)), change))
    return BacktestInputs(
        closes,
        [s for _, s in sorted(signals.values(), key=lambda x: x[0])],
        [c for _, c in sorted(changes, key=lambda x: x[0])],
    )


def backtest_outcomes(config: PortfolioConfig, inputs: BacktestInputs) -> list[BarOutcome]:
    result = run_portfolio_backtest(config, inputs.closes, inputs.signals, inputs.lifecycle)
    return list(result.outcomes)
