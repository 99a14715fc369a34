"""Walk-forward optimisation of a parameter grid, one parameter set per regime.

For every split and every regime, the combo maximising the objective on the in-sample bars
OF THAT REGIME is chosen, then traded on the out-of-sample bars of that regime. Only the
returns of bars carrying the regime's label count; positions opened in one regime and held
into another earn in the regime of each bar.

The engine is reached through `evaluate(start, end)`, which must return an object with
`returns` ((end - start) x C per-bar returns on capital) and `trade_counts` (C,), and may
carry `positions` (same shape as returns, position held over each bar) for exact trade
attribution. The engine must be causal (bar t uses data up to t): with `contiguous=True`
(default) each split is evaluated once over [train_start, test_end) so the out-of-sample
bars inherit the warm-up (rolling windows, open positions) of the training bars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from services.backtest.metrics import HIGHER_IS_BETTER, compute_metrics
from services.backtest.metrics_trades import trade_entries
from services.backtest.walkforward.results import (
    FloatArray,
    RegimeLabel,
    RegimeSelection,
    RegimeWalkForward,
    SkippedSelection,
    WalkForwardResult,
)
from services.backtest.walkforward.splits import Split

ALL_BARS: RegimeLabel = "all"


@dataclass(frozen=True)
class _MetricOptions:
    periods_per_year: float
    risk_free: float

    def as_kwargs(self) -> dict[str, Any]:
        return {"periods_per_year": self.periods_per_year, "risk_free": self.risk_free}


class GridEvaluation(Protocol):
    @property
    def returns(self) -> Any: ...

    @property
    def trade_counts(self) -> Any: ...


Evaluate = Callable[[int, int], GridEvaluation]


class _Window:
    """Returns, positions and trade entries of one evaluated window."""

    def __init__(self, result: GridEvaluation, start: int, end: int, n_combos: int | None) -> None:
        returns = np.asarray(result.returns, dtype=np.float64)
        if returns.ndim != 2 or returns.shape[0] != end - start:
            raise ValueError(
                f"evaluate({start}, {end}) returned returns of shape {returns.shape}; "
                f"expected ({end - start}, n_combos)"
            )
        if n_combos is not None and returns.shape[1] != n_combos:
            raise ValueError(
                f"evaluate({start}, {end}) returned {returns.shape[1]} combos, earlier windows "
                f"had {n_combos}"
            )
        raw_positions = getattr(result, "positions", None)
        self.positions = None if raw_positions is None else np.asarray(raw_positions, np.float64)
        if self.positions is not None and self.positions.shape != returns.shape:
            raise ValueError(f"positions shape {self.positions.shape} != returns {returns.shape}")
        self.returns = returns
        self.start = start
        self.entries = trade_entries(returns, self.positions)[1]

    def rows(self, start: int, end: int, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
        """Row numbers in this window of the bars in [start, end) selected by `mask`."""
        index: npt.NDArray[np.int64] = np.arange(start, end, dtype=np.int64)[mask] - self.start
        return index


def _regime_labels(regimes: npt.ArrayLike | None, n_bars: int) -> npt.NDArray[Any]:
    if regimes is None:
        return np.full(n_bars, ALL_BARS, dtype=object)
    labels = np.asarray(regimes)
    if labels.shape != (n_bars,):
        raise ValueError(f"regimes must have shape ({n_bars},), got {labels.shape}")
    return labels


def _label(value: Any) -> RegimeLabel:
    item = value.item() if isinstance(value, np.generic) else value
    if not isinstance(item, int | str):
        raise ValueError(f"regime labels must be integers or strings, got {item!r}")
    return item


def _mean_metrics(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    with np.errstate(invalid="ignore"):
        return {
            k: float(np.nanmean([r[k] for r in rows]))
            if any(np.isfinite(r[k]) for r in rows)
            else float("nan")
            for k in rows[0]
        }


def run_walk_forward(
    evaluate: Evaluate,
    n_bars: int,
    splits: Sequence[Split],
    regimes: npt.ArrayLike | None = None,
    *,
    objective: str = "sharpe",
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
    min_in_sample_bars: int = 20,
    min_in_sample_trades: int = 1,
    contiguous: bool = True,
) -> WalkForwardResult:
    """Per-regime in-sample selection and stitched out-of-sample evaluation."""
    if objective not in HIGHER_IS_BETTER:
        raise ValueError(
            f"unknown objective {objective!r}; known: {', '.join(sorted(HIGHER_IS_BETTER))}"
        )
    if not splits:
        raise ValueError("no splits: the data is too short for the requested windows")
    if splits[-1].test_end > n_bars:
        raise ValueError(f"split {splits[-1]} ends after the {n_bars} bars available")
    labels = _regime_labels(regimes, n_bars)
    regime_values = [_label(v) for v in np.unique(labels)]
    sign = 1.0 if HIGHER_IS_BETTER[objective] else -1.0
    kwargs = _MetricOptions(periods_per_year, risk_free)

    selections: dict[RegimeLabel, list[RegimeSelection]] = {k: [] for k in regime_values}
    skipped: dict[RegimeLabel, list[SkippedSelection]] = {k: [] for k in regime_values}
    trial_sharpes: dict[RegimeLabel, list[FloatArray]] = {k: [] for k in regime_values}
    oos_parts: dict[RegimeLabel, list[tuple[npt.NDArray[np.int64], FloatArray]]] = {
        k: [] for k in regime_values
    }
    n_combos: int | None = None
    for split in splits:
        if contiguous:
            is_window = _Window(
                evaluate(split.train_start, split.test_end),
                split.train_start,
                split.test_end,
                n_combos,
            )
            oos_window = is_window
        else:
            is_window = _Window(
                evaluate(split.train_start, split.train_end),
                split.train_start,
                split.train_end,
                n_combos,
            )
            oos_window = _Window(
                evaluate(split.test_start, split.test_end),
                split.test_start,
                split.test_end,
                is_window.returns.shape[1],
            )
        n_combos = is_window.returns.shape[1]
        train_labels = labels[split.train_start : split.train_end]
        test_labels = labels[split.test_start : split.test_end]
        for regime in regime_values:
            is_rows = is_window.rows(split.train_start, split.train_end, train_labels == regime)
            if is_rows.size < min_in_sample_bars:
                skipped[regime].append(
                    SkippedSelection(
                        split, regime, f"{is_rows.size} in-sample bars < {min_in_sample_bars}"
                    )
                )
                continue
            is_trades = is_window.entries[is_rows].sum(axis=0)
            is_pos = None if is_window.positions is None else is_window.positions[is_rows]
            is_metrics = compute_metrics(
                is_window.returns[is_rows], is_pos, trade_counts=is_trades, **kwargs.as_kwargs()
            )
            score = sign * is_metrics.metric(objective)
            # +inf (a zero-dispersion winner) stays eligible; NaN (undefined) does not.
            eligible = ~np.isnan(score) & (is_trades >= min_in_sample_trades)
            trial_sharpes[regime].append(is_metrics.sharpe_per_period)
            if not eligible.any():
                skipped[regime].append(
                    SkippedSelection(
                        split,
                        regime,
                        f"no combo with a defined {objective} and >= "
                        f"{min_in_sample_trades} in-sample trades",
                    )
                )
                continue
            candidates = np.flatnonzero(eligible)
            best = int(candidates[np.argmax(score[candidates])])  # ties: lowest index
            oos_rows = oos_window.rows(split.test_start, split.test_end, test_labels == regime)
            oos_returns = oos_window.returns[oos_rows, best]
            oos_trades = int(oos_window.entries[oos_rows, best].sum())
            oos_pos = None if oos_window.positions is None else oos_window.positions[oos_rows, best]
            oos_metrics = compute_metrics(
                oos_returns, oos_pos, trade_counts=[oos_trades], **kwargs.as_kwargs()
            )
            oos_parts[regime].append((oos_rows + oos_window.start, oos_returns))
            selections[regime].append(
                RegimeSelection(
                    split=split,
                    regime=regime,
                    combo=best,
                    objective_value=float(is_metrics.metric(objective)[best]),
                    in_sample_bars=int(is_rows.size),
                    out_of_sample_bars=int(oos_rows.size),
                    out_of_sample_trades=oos_trades,
                    in_sample=is_metrics.column(best),
                    out_of_sample=oos_metrics.column(0),
                )
            )

    assert n_combos is not None
    per_regime = {
        regime: _summarise_regime(
            regime,
            selections[regime],
            skipped[regime],
            oos_parts[regime],
            trial_sharpes[regime],
            n_combos,
            kwargs,
        )
        for regime in regime_values
    }
    oos_index = np.concatenate([np.arange(s.test_start, s.test_end) for s in splits])
    book = np.zeros(n_bars)
    for summary in per_regime.values():
        book[summary.oos_bar_index] = summary.oos_returns
    total_trials = sum(s.n_trials for s in per_regime.values())
    total_trades = sum(s.oos_trades for s in per_regime.values())
    overall = compute_metrics(
        book[oos_index],
        trade_counts=[total_trades],
        n_trials=max(total_trials, 1),
        trial_sharpe_variance=_pooled_variance([x for v in trial_sharpes.values() for x in v]),
        **kwargs.as_kwargs(),
    )
    return WalkForwardResult(
        objective=objective,
        n_combos=n_combos,
        n_bars=n_bars,
        splits=tuple(splits),
        regimes=per_regime,
        oos_bar_index=oos_index,
        oos_returns=book[oos_index],
        n_trials=total_trials,
        out_of_sample=overall.column(0),
    )


def _pooled_variance(sharpes: Sequence[FloatArray]) -> float:
    if not sharpes:
        return 0.0
    pooled = np.concatenate(sharpes)
    pooled = pooled[np.isfinite(pooled)]
    return float(np.var(pooled, ddof=1)) if pooled.size >= 2 else 0.0


def _summarise_regime(
    regime: RegimeLabel,
    selections: list[RegimeSelection],
    skipped: list[SkippedSelection],
    parts: list[tuple[npt.NDArray[np.int64], FloatArray]],
    trial_sharpes: list[FloatArray],
    n_combos: int,
    kwargs: _MetricOptions,
) -> RegimeWalkForward:
    index = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    returns = np.concatenate([p[1] for p in parts]) if parts else np.empty(0)
    trades = sum(s.out_of_sample_trades for s in selections)
    n_trials = n_combos * len(selections)
    variance = _pooled_variance(trial_sharpes)
    oos = compute_metrics(
        returns,
        trade_counts=[trades],
        n_trials=max(n_trials, 1),
        trial_sharpe_variance=variance,
        **kwargs.as_kwargs(),
    ).column(0)
    return RegimeWalkForward(
        regime=regime,
        selections=tuple(selections),
        skipped=tuple(skipped),
        oos_bar_index=index.astype(np.int64),
        oos_returns=returns,
        oos_trades=trades,
        n_trials=n_trials,
        trial_sharpe_variance=variance,
        in_sample=_mean_metrics([s.in_sample for s in selections]),
        out_of_sample=oos,
    )
