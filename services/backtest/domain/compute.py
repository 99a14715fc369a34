"""A backtest or walk-forward job on a price history: pure, runs in a worker process.

Input: a valid JobSpec and the pair's closes (aligned bars of A and B). Output: a JobResult
holding everything the store writes (metrics, best parameters, trades, equity curve, the HTML
report, the parameter sets to publish). A `progress(fraction)` callback reports how far it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.regime import ShiftDetectorSettings
from services.backtest.domain.regimes import RegimeLabels, label_regimes
from services.backtest.domain.requests import JobSpec
from services.backtest.engine import GridResult, ParamGrid, run_grid, run_single
from services.backtest.engine.accounting import holdings
from services.backtest.engine.single import BacktestRun
from services.backtest.engine.spreads import compute_spread_series, ols_hedge, rolling_ols_hedge
from services.backtest.metrics import HIGHER_IS_BETTER, compute_metrics
from services.backtest.report import ReportInput, objective_surface, render_report
from services.backtest.report_setup import job_tearsheet
from services.backtest.report_tearsheet import TearsheetInput
from services.backtest.walkforward import (
    PublicationCriteria,
    decide_publication,
    make_splits,
    run_walk_forward,
)

FloatArray = NDArray[np.float64]
Progress = Callable[[float], None]
MIN_BARS = 30


class NoHistory(ValueError):
    """Not enough aligned bars of the pair to run the job."""


@dataclass(frozen=True)
class Publication:
    regime: int | None
    version: str
    params: dict[str, Any]
    evidence: dict[str, Any]


@dataclass(frozen=True)
class JobResult:
    request_id: str
    kind: str
    pair_id: str
    metrics: dict[str, Any]
    best_params: dict[str, Any]
    n_combinations: int
    n_trades: int
    trades: list[dict[str, Any]]
    equity: list[tuple[pd.Timestamp, float, float]]  # bar time, equity, drawdown
    report_html: str
    data_start: str
    data_end: str
    publications: list[Publication] = field(default_factory=list)
    publication_reasons: list[str] = field(default_factory=list)
    n_trials: int = 0


def json_safe(value: Any) -> Any:
    """NaN -> None, +-inf -> "inf"/"-inf", numpy scalars -> Python: JSON and jsonb accept it."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


@dataclass(frozen=True)
class _Evaluation:
    """run_grid's result plus positions held over each bar (exact trade attribution)."""

    returns: FloatArray
    trade_counts: NDArray[np.int64]
    positions: FloatArray


def positions_held(result: GridResult) -> FloatArray:
    """Spread position held over bar t (the one earning returns[t]): after bar t-1's fills."""
    n_bars, n_combos = result.returns.shape
    after = holdings(
        result.fills.fill_bar,
        result.fills.combo,
        result.fills.delta_position.astype(np.float64),
        n_bars,
        n_combos,
    )
    held = np.zeros_like(after)
    held[1:] = after[:-1]
    return held


def aligned_prices(spec: JobSpec, closes: pd.DataFrame) -> pd.DataFrame:
    missing = [s for s in (spec.a, spec.b) if s not in closes.columns]
    if missing:
        raise NoHistory(f"no bars for {', '.join(missing)} in the requested range")
    frame = closes[[spec.a, spec.b]].dropna().sort_index()
    if len(frame) < MIN_BARS:
        raise NoHistory(
            f"{len(frame)} aligned bars of {spec.a} and {spec.b}; need at least {MIN_BARS}"
        )
    return frame


def run_job(spec: JobSpec, closes: pd.DataFrame, progress: Progress | None = None) -> JobResult:
    report = progress or (lambda _f: None)
    frame = aligned_prices(spec, closes)
    if spec.kind == "walk_forward":
        return _walk_forward(spec, frame, report)
    return _backtest(spec, frame, report)


def _times(frame: pd.DataFrame) -> NDArray[np.generic]:
    return frame.index.to_numpy()


def _iso(value: Any) -> str:
    return pd.Timestamp(value).isoformat()


def _spread_and_z(
    spec: JobSpec, a: FloatArray, b: FloatArray, lookback: int
) -> tuple[FloatArray, FloatArray]:
    series = compute_spread_series(a, b, [lookback], spec.hedge)
    if spec.hedge == "ols":
        alpha, beta = ols_hedge(a, b)
        spread = a - alpha - beta * b
    else:
        alphas, betas = rolling_ols_hedge(a, b, lookback)
        spread = a - alphas - betas * b
    return spread, series.z_score[:, 0]


def _trades(run: BacktestRun) -> list[dict[str, Any]]:
    return [
        {
            "entry_decision_time": _iso(t.entry_decision_time),
            "entry_time": _iso(t.entry_time),
            "exit_decision_time": None
            if t.exit_decision_time is None
            else _iso(t.exit_decision_time),
            "exit_time": None if t.exit_time is None else _iso(t.exit_time),
            "direction": t.direction,
            "reason": t.reason,
            "pnl": t.pnl,
            "costs": t.costs,
            "legs": [
                {
                    "symbol": leg.symbol,
                    "shares": leg.shares,
                    "entry_price": leg.entry_price,
                    "exit_price": leg.exit_price,
                }
                for leg in t.legs
            ],
        }
        for t in run.trades
    ]


def _equity_rows(
    times: NDArray[np.generic], returns: FloatArray
) -> list[tuple[pd.Timestamp, float, float]]:
    equity = np.cumprod(1.0 + returns)
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    return [
        (pd.Timestamp(t), float(e), float(d))
        for t, e, d in zip(times, equity, drawdown, strict=True)
    ]


def _report(
    spec: JobSpec,
    run: BacktestRun,
    returns: FloatArray,
    a: FloatArray,
    b: FloatArray,
    times: NDArray[np.generic],
    metrics: dict[str, dict[str, float]],
    objective_values: FloatArray,
    grid: ParamGrid,
    objective: str,
    tearsheet: TearsheetInput,
) -> str:
    spread, z = _spread_and_z(spec, a, b, run.params.lookback)
    actions = run.actions
    heatmap = None
    if len(grid) > 1:
        heatmap = objective_surface(
            objective_values, list(grid.combinations()), "exit_z", "entry_z", objective
        )
    return render_report(
        ReportInput(
            title=f"{spec.pair_id} {spec.kind.replace('_', '-')} {spec.request_id}",
            returns=returns,
            spread=spread,
            z_score=z,
            entries=[int(i) for i in np.flatnonzero((actions == 1) | (actions == 2))],
            exits=[int(i) for i in np.flatnonzero(actions >= 3)],
            metrics=metrics,
            heatmap=heatmap,
            bar_labels=[pd.Timestamp(t).strftime("%Y-%m-%d") for t in times],
            z_thresholds=(run.params.entry_z, run.params.exit_z),
            tearsheet=tearsheet,
        )
    )


def _params_dict(grid: ParamGrid, index: int) -> dict[str, Any]:
    p = grid.params(index)
    return {
        "entry_z": p.entry_z,
        "exit_z": p.exit_z,
        "stop_z": p.stop_z,
        "lookback": p.lookback,
        "time_stop_half_lives": p.time_stop_half_lives,
        "sizing": p.sizing,
    }


def _best(score: FloatArray, objective: str) -> int:
    signed = score if HIGHER_IS_BETTER[objective] else -score
    finite = np.flatnonzero(~np.isnan(signed))
    if finite.size == 0:
        return 0
    return int(finite[np.argmax(signed[finite])])  # ties: lowest index


def _backtest(spec: JobSpec, frame: pd.DataFrame, report: Progress) -> JobResult:
    a = frame[spec.a].to_numpy(np.float64)
    b = frame[spec.b].to_numpy(np.float64)
    times = _times(frame)
    grid, costs = spec.param_grid(), spec.engine_costs()
    objective = spec.walk_forward.objective
    report(0.05)
    result = run_grid(a, b, times, grid, costs, spec.fill, spec.hedge)
    report(0.6)
    metrics = compute_metrics(
        result.returns,
        positions_held(result),
        trade_counts=result.trade_counts,
        periods_per_year=costs.bars_per_year,
    )
    best = _best(metrics.metric(objective), objective)
    params = grid.params(best, version=f"{spec.request_id}-best")
    run = run_single(a, b, times, params, costs, spec.fill, spec.hedge, symbols=(spec.a, spec.b))
    report(0.85)
    best_metrics = metrics.column(best)
    trades = json_safe(_trades(run))
    tearsheet = job_tearsheet(spec, a, b, times, _params_dict(grid, best), trades, len(grid))
    html = _report(
        spec,
        run,
        run.returns,
        a,
        b,
        times,
        {"selected": best_metrics},
        metrics.metric(objective),
        grid,
        objective,
        tearsheet,
    )
    report(1.0)
    return JobResult(
        request_id=spec.request_id,
        kind=spec.kind,
        pair_id=spec.pair_id,
        metrics=json_safe({**best_metrics, "objective": objective}),
        best_params=json_safe(_params_dict(grid, best)),
        n_combinations=len(grid),
        n_trades=len(run.trades),
        trades=trades,
        equity=_equity_rows(times, run.returns),
        report_html=html,
        data_start=_iso(times[0]),
        data_end=_iso(times[-1]),
        n_trials=len(grid),
    )


def _walk_forward(spec: JobSpec, frame: pd.DataFrame, report: Progress) -> JobResult:
    a = frame[spec.a].to_numpy(np.float64)
    b = frame[spec.b].to_numpy(np.float64)
    times = _times(frame)
    grid, costs, wf = spec.param_grid(), spec.engine_costs(), spec.walk_forward.fitted(len(a))
    try:
        splits = make_splits(len(a), wf.train_bars, wf.test_bars, wf.step, wf.mode)
    except ValueError as exc:
        raise NoHistory(f"{len(a)} aligned bars: {exc}") from exc
    regimes: RegimeLabels = label_regimes(a, b, wf.regimes, ShiftDetectorSettings())
    report(0.1)
    done = [0]

    def evaluate(start: int, end: int) -> _Evaluation:
        result = run_grid(
            a[start:end], b[start:end], times[start:end], grid, costs, spec.fill, spec.hedge
        )
        done[0] += 1
        report(0.1 + 0.75 * done[0] / len(splits))
        return _Evaluation(result.returns, result.trade_counts, positions_held(result))

    wf_result = run_walk_forward(
        evaluate,
        len(a),
        splits,
        regimes.labels,
        objective=wf.objective,
        periods_per_year=costs.bars_per_year,
        min_in_sample_trades=wf.min_in_sample_trades,
    )
    combos = list(grid.combinations())
    decision = decide_publication(
        wf_result,
        combos,
        pair=spec.pair_id,
        data_start=_iso(times[0]),
        data_end=_iso(times[-1]),
        criteria=PublicationCriteria(
            min_oos_sharpe=wf.min_oos_sharpe,
            min_oos_trades=wf.min_oos_trades,
            max_oos_drawdown=wf.max_oos_drawdown,
            min_deflated_sharpe=wf.min_deflated_sharpe,
        ),
    )
    publications = [
        Publication(
            regime=d.regime if isinstance(d.regime, int) else None,
            version=d.version,
            params=json_safe({**d.params, "sizing": spec.sizing}),
            evidence=json_safe(
                {
                    **d.evidence,
                    "regime_source": regimes.source,
                    "regime_names": regimes.names,
                    "regime_model_version": regimes.model_version,
                }
            ),
        )
        for d in decision.regimes
        if d.publish and d.version is not None and d.params is not None
    ]
    # The set to show: the latest selection of the regime with the most out-of-sample bars.
    summaries = sorted(
        wf_result.regimes.values(), key=lambda s: (-s.oos_bar_index.size, str(s.regime))
    )
    latest = next((s.latest_combo for s in summaries if s.latest_combo is not None), 0)
    params = grid.params(latest, version=f"{spec.request_id}-latest")
    run = run_single(a, b, times, params, costs, spec.fill, spec.hedge, symbols=(spec.a, spec.b))
    book = np.zeros(len(a))
    book[wf_result.oos_bar_index] = wf_result.oos_returns
    report(0.9)
    oos = wf_result.out_of_sample
    per_regime = {
        str(r): {
            "in_sample": s.in_sample,
            "out_of_sample": s.out_of_sample,
            "n_trials": s.n_trials,
            "oos_trades": s.oos_trades,
            "selections": len(s.selections),
            "skipped": len(s.skipped),
        }
        for r, s in wf_result.regimes.items()
    }
    in_sample_sharpes = [
        s.in_sample.get("sharpe", math.nan) for s in wf_result.regimes.values() if s.selections
    ]
    metrics = {
        **oos,
        "objective": wf.objective,
        "in_sample_sharpe": float(np.nanmean(in_sample_sharpes)) if in_sample_sharpes else None,
        "out_of_sample_sharpe": oos.get("sharpe"),
        "n_trials": wf_result.n_trials,
        "n_splits": len(splits),
        "regime_source": regimes.source,
        "regime_note": regimes.note,
        "regimes": per_regime,
        "published": [
            {"regime": p.regime, "version": p.version, "params": p.params} for p in publications
        ],
        "publication_reasons": list(decision.reasons),
    }
    surface = np.full(len(grid), np.nan)
    for s in wf_result.regimes.values():
        for sel in s.selections:
            if np.isnan(surface[sel.combo]) or sel.objective_value > surface[sel.combo]:
                surface[sel.combo] = sel.objective_value
    trades = json_safe(_trades(run))
    tearsheet = job_tearsheet(
        spec, a, b, times, _params_dict(grid, latest), trades, len(grid), splits
    )
    html = _report(
        spec,
        run,
        book,
        a,
        b,
        times,
        {
            "out_of_sample": oos,
            **{f"in_sample regime {r}": s.in_sample for r, s in wf_result.regimes.items()},
        },
        surface,
        grid,
        wf.objective,
        tearsheet,
    )
    report(1.0)
    return JobResult(
        request_id=spec.request_id,
        kind=spec.kind,
        pair_id=spec.pair_id,
        metrics=json_safe(metrics),
        best_params=json_safe(_params_dict(grid, latest)),
        n_combinations=len(grid),
        n_trades=int(sum(s.oos_trades for s in wf_result.regimes.values())),
        trades=trades,
        equity=_equity_rows(times, book),
        report_html=html,
        data_start=_iso(times[0]),
        data_end=_iso(times[-1]),
        publications=publications,
        publication_reasons=list(decision.reasons),
        n_trials=wf_result.n_trials,
    )
