"""The publish / do-not-publish decision for walk-forward results: a pure function."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.backtest.walkforward.results import RegimeLabel, RegimeWalkForward, WalkForwardResult
from services.backtest.walkforward.version import (
    DataBound,
    ParamValue,
    combo_params,
    parameter_set_version,
)


@dataclass(frozen=True)
class PublicationCriteria:
    """Thresholds every regime's out-of-sample evidence must meet.

    `max_oos_drawdown` is a positive fraction (0.2 = at most a 20 % fall from peak).
    `min_deflated_sharpe` is the probability that the true out-of-sample Sharpe beats the
    best of `n_trials` zero-skill trials. With `require_all_regimes`, one failing regime
    blocks the whole publication; otherwise the passing regimes are published.
    """

    min_oos_sharpe: float = 0.5
    min_oos_trades: int = 10
    max_oos_drawdown: float = 0.25
    min_deflated_sharpe: float = 0.95
    min_splits: int = 2
    min_oos_bars: int = 60
    min_combo_stability: float = 0.0
    require_all_regimes: bool = False


@dataclass(frozen=True)
class RegimeDecision:
    regime: RegimeLabel
    publish: bool
    reasons: tuple[str, ...]
    params: dict[str, ParamValue] | None
    version: str | None
    evidence: dict[str, Any]


@dataclass(frozen=True)
class PublicationDecision:
    publish: bool
    reasons: tuple[str, ...]
    regimes: tuple[RegimeDecision, ...]

    @property
    def published(self) -> dict[RegimeLabel, RegimeDecision]:
        return {d.regime: d for d in self.regimes if d.publish}


def _failures(summary: RegimeWalkForward, criteria: PublicationCriteria) -> list[str]:
    oos = summary.out_of_sample
    checks: list[tuple[bool, str]] = [
        (
            len(summary.selections) >= criteria.min_splits,
            f"{len(summary.selections)} splits with a selection < {criteria.min_splits}",
        ),
        (
            summary.oos_bar_index.size >= criteria.min_oos_bars,
            f"{summary.oos_bar_index.size} out-of-sample bars < {criteria.min_oos_bars}",
        ),
        (
            summary.oos_trades >= criteria.min_oos_trades,
            f"{summary.oos_trades} out-of-sample trades < {criteria.min_oos_trades}",
        ),
        (
            oos.get("sharpe", math.nan) >= criteria.min_oos_sharpe,
            f"out-of-sample Sharpe {oos.get('sharpe', math.nan):.3f} < {criteria.min_oos_sharpe}",
        ),
        (
            -oos.get("max_drawdown", math.nan) <= criteria.max_oos_drawdown,
            f"out-of-sample max drawdown {-oos.get('max_drawdown', math.nan):.3f} > "
            f"{criteria.max_oos_drawdown}",
        ),
        (
            oos.get("deflated_sharpe", math.nan) >= criteria.min_deflated_sharpe,
            f"deflated Sharpe probability {oos.get('deflated_sharpe', math.nan):.3f} < "
            f"{criteria.min_deflated_sharpe} ({summary.n_trials} trials)",
        ),
        (
            summary.combo_stability >= criteria.min_combo_stability,
            f"combo stability {summary.combo_stability:.2f} < {criteria.min_combo_stability}",
        ),
    ]
    # NaN compares False, so an undefined metric fails its check: no evidence, no publication.
    return [reason for passed, reason in checks if not passed]


def _evidence(summary: RegimeWalkForward, objective: str) -> dict[str, Any]:
    return {
        "objective": objective,
        "n_trials": summary.n_trials,
        "trial_sharpe_variance": summary.trial_sharpe_variance,
        "combo_stability": summary.combo_stability,
        "oos_bars": int(summary.oos_bar_index.size),
        "oos_trades": summary.oos_trades,
        "in_sample": summary.in_sample,
        "out_of_sample": summary.out_of_sample,
        "splits": [
            {
                "split": s.split.index,
                "train": [s.split.train_start, s.split.train_end],
                "test": [s.split.test_start, s.split.test_end],
                "combo": s.combo,
                "objective_value": s.objective_value,
                "in_sample_bars": s.in_sample_bars,
                "out_of_sample_bars": s.out_of_sample_bars,
                "out_of_sample_trades": s.out_of_sample_trades,
                "in_sample": s.in_sample,
                "out_of_sample": s.out_of_sample,
            }
            for s in summary.selections
        ],
        "skipped": [{"split": s.split.index, "reason": s.reason} for s in summary.skipped],
    }


def decide_publication(
    result: WalkForwardResult,
    combos: Sequence[Any],
    *,
    pair: str,
    data_start: DataBound,
    data_end: DataBound,
    criteria: PublicationCriteria | None = None,
) -> PublicationDecision:
    """Which regimes' parameter sets to publish, each with its evidence or its reasons.

    The published parameter set of a regime is the combo chosen on the most recent training
    window; its version hashes pair, regime, parameters and the data range.
    """
    criteria = criteria or PublicationCriteria()
    if len(combos) != result.n_combos:
        raise ValueError(
            f"{len(combos)} combos given, the walk-forward evaluated {result.n_combos}"
        )
    decisions: list[RegimeDecision] = []
    for regime, summary in result.regimes.items():
        reasons = _failures(summary, criteria)
        latest = summary.latest_combo
        params = None if latest is None else combo_params(combos[latest])
        ok = not reasons and params is not None
        decisions.append(
            RegimeDecision(
                regime=regime,
                publish=ok,
                reasons=tuple(f"regime {regime}: {r}" for r in reasons),
                params=params if ok else None,
                version=parameter_set_version(pair, regime, params, data_start, data_end)
                if ok and params is not None
                else None,
                evidence=_evidence(summary, result.objective),
            )
        )
    failed = [r for d in decisions for r in d.reasons]
    passed = [d for d in decisions if d.publish]
    if criteria.require_all_regimes and failed:
        blocked = tuple(
            RegimeDecision(
                d.regime,
                False,
                d.reasons or ("blocked: another regime failed",),
                None,
                None,
                d.evidence,
            )
            for d in decisions
        )
        return PublicationDecision(False, tuple(failed), blocked)
    summary_reasons = tuple(failed) if passed or failed else ("no regime to publish",)
    return PublicationDecision(bool(passed), summary_reasons, tuple(decisions))
