"""The tearsheet input of a backtest or walk-forward job: the setup that produced it in words
(chosen parameters, costs, hedge method, fill rule, data range), the trades, the benchmark
(equal-weight buy-and-hold of the pair's two legs) and the walk-forward splits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.backtest.domain.requests import JobSpec
from services.backtest.metrics_tearsheet import buy_and_hold
from services.backtest.report_tearsheet import TearsheetInput
from services.backtest.walkforward.splits import Split

FloatArray = npt.NDArray[np.float64]

HEDGE_METHODS = {
    "rolling": "rolling OLS of A on B over the lookback window (no look-ahead)",
    "ols": "one OLS of A on B over the whole range (uses future bars: in-sample only)",
}
FILL_RULES = {
    "next_close": "signal on bar t's close, filled at bar t+1's close",
    "same_close": "filled at the signal bar's own close (optimistic)",
}


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def setup_rows(
    spec: JobSpec,
    times: npt.NDArray[np.generic],
    params: Mapping[str, Any],
    n_combinations: int,
    n_splits: int = 0,
) -> dict[str, str]:
    start, end = pd.Timestamp(times[0]), pd.Timestamp(times[-1])
    chosen = ", ".join(f"{k}={_fmt(v)}" for k, v in params.items())
    costs = spec.costs
    rows = {
        "pair": f"{spec.pair_id} (A={spec.a}, B={spec.b})",
        "job": f"{spec.kind.replace('_', '-')} {spec.request_id}",
        "data range": f"{start.date()} to {end.date()}, {len(times)} aligned {spec.interval} bars",
        "chosen parameters": chosen,
        "costs": (
            f"commission {_fmt(costs['commission_bps'])} bps, slippage "
            f"{_fmt(costs['slippage_bps'])} bps per leg on traded notional; borrow "
            f"{_fmt(costs['borrow_bps'])} bps a year on the short leg"
        ),
        "hedge method": HEDGE_METHODS.get(spec.hedge, spec.hedge),
        "fill rule": f"{spec.fill}: {FILL_RULES.get(spec.fill, '')}".rstrip(": "),
        "sizing": spec.sizing,
        "search": (
            f"{n_combinations} parameter combinations, objective {spec.walk_forward.objective}"
        ),
    }
    if spec.kind == "walk_forward":
        wf = spec.walk_forward.fitted(len(times))
        rows["walk-forward"] = (
            f"{n_splits} {wf.mode} splits: train {wf.train_bars} bars (in-sample), test "
            f"{wf.test_bars} bars (out-of-sample), step {wf.step or wf.test_bars}; regimes "
            f"{wf.regimes}; the chosen parameters are the latest selection"
        )
    return rows


def job_tearsheet(
    spec: JobSpec,
    a: FloatArray,
    b: FloatArray,
    times: npt.NDArray[np.generic],
    params: Mapping[str, Any],
    trades: Sequence[Mapping[str, Any]],
    n_combinations: int,
    splits: Sequence[Split] = (),
) -> TearsheetInput:
    per_year = spec.engine_costs().bars_per_year
    return TearsheetInput(
        setup=setup_rows(spec, times, params, n_combinations, len(splits)),
        trades=trades,
        benchmark=buy_and_hold(a, b),
        benchmark_name=f"equal-weight buy-and-hold of {spec.a} and {spec.b}",
        splits=splits,
        periods_per_year=per_year,
        rolling_window=max(2, round(per_year / 2)),
    )
