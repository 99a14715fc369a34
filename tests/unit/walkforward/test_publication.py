"""Publication decision (pure) and deterministic parameter-set versions."""

from __future__ import annotations

import datetime as dt
import json
from collections import namedtuple
from dataclasses import dataclass, replace

import numpy as np
import pytest

from services.backtest.walkforward import (
    PublicationCriteria,
    WalkForwardResult,
    combo_params,
    decide_publication,
    make_splits,
    parameter_set_version,
    run_walk_forward,
)

from .fake_engine import two_regime_book

COMBOS = [
    {"entry_z": entry_z, "exit_z": 0.5, "lookback": lookback}
    for entry_z in (1.5, 2.0, 2.5, 3.0)
    for lookback in (20, 60, 120, 250)
]
LENIENT = PublicationCriteria(
    min_oos_sharpe=1.0, min_oos_trades=5, max_oos_drawdown=0.5, min_deflated_sharpe=0.5
)


@pytest.fixture(scope="module")
def result() -> WalkForwardResult:
    engine, labels = two_regime_book()
    return run_walk_forward(engine, 1000, make_splits(1000, 300, 100), labels)


def _decide(result: WalkForwardResult, criteria: PublicationCriteria) -> object:
    return decide_publication(
        result,
        COMBOS,
        pair="KO~PEP",
        data_start="2000-01-03",
        data_end="2003-12-31",
        criteria=criteria,
    )


def test_strong_regimes_are_published_with_params_version_and_evidence(
    result: WalkForwardResult,
) -> None:
    decision = decide_publication(
        result,
        COMBOS,
        pair="KO~PEP",
        data_start="2000-01-03",
        data_end="2003-12-31",
        criteria=LENIENT,
    )
    assert decision.publish and decision.reasons == ()
    published = decision.published
    assert published[0].params == COMBOS[0] and published[1].params == COMBOS[1]
    assert published[0].version == parameter_set_version(
        "KO~PEP", 0, COMBOS[0], "2000-01-03", "2003-12-31"
    )
    evidence = published[0].evidence
    assert evidence["n_trials"] == len(COMBOS) * len(result.splits)
    assert len(evidence["splits"]) == len(result.splits)
    assert evidence["splits"][0]["train"] == [0, 300] and evidence["splits"][0]["test"] == [
        300,
        400,
    ]
    assert evidence["out_of_sample"]["sharpe"] == result.regimes[0].out_of_sample["sharpe"]
    assert "sharpe" in evidence["in_sample"]
    json.dumps(evidence, allow_nan=True)  # serialisable for the params.v1 event


def test_failed_criteria_give_every_reason(result: WalkForwardResult) -> None:
    strict = replace(LENIENT, min_oos_trades=10**6, min_oos_sharpe=100.0, min_splits=99)
    decision = decide_publication(
        result, COMBOS, pair="KO~PEP", data_start=0, data_end=999, criteria=strict
    )
    assert not decision.publish
    assert all(d.params is None and d.version is None for d in decision.regimes)
    reasons = " | ".join(decision.reasons)
    assert "out-of-sample trades < 1000000" in reasons
    assert "out-of-sample Sharpe" in reasons and "< 100.0" in reasons
    assert "splits with a selection < 99" in reasons
    assert "regime 0:" in reasons and "regime 1:" in reasons


def test_drawdown_and_deflated_sharpe_thresholds(result: WalkForwardResult) -> None:
    tight = replace(LENIENT, max_oos_drawdown=0.0, min_deflated_sharpe=1.0)
    decision = decide_publication(
        result, COMBOS, pair="A~B", data_start=0, data_end=1, criteria=tight
    )
    reasons = " | ".join(decision.reasons)
    assert "max drawdown" in reasons and "> 0.0" in reasons
    assert "deflated Sharpe probability" in reasons and "trials)" in reasons


def test_require_all_regimes_blocks_when_one_regime_fails() -> None:
    engine, labels = two_regime_book()
    engine.returns[labels == 1] = -np.abs(engine.returns[labels == 1])  # every combo loses there
    result = run_walk_forward(engine, 1000, make_splits(1000, 300, 100), labels)
    partial = decide_publication(
        result, COMBOS, pair="A~B", data_start=0, data_end=1, criteria=LENIENT
    )
    assert partial.publish and set(partial.published) == {0}
    assert any(r.startswith("regime 1:") for r in partial.reasons)
    strict = decide_publication(
        result,
        COMBOS,
        pair="A~B",
        data_start=0,
        data_end=1,
        criteria=replace(LENIENT, require_all_regimes=True),
    )
    assert not strict.publish and strict.published == {}
    assert strict.regimes[0].reasons == ("blocked: another regime failed",)


def test_combo_count_mismatch_is_rejected(result: WalkForwardResult) -> None:
    with pytest.raises(ValueError, match="3 combos given, the walk-forward evaluated 16"):
        decide_publication(result, COMBOS[:3], pair="A~B", data_start=0, data_end=1)


def test_version_is_deterministic_and_sensitive() -> None:
    base = parameter_set_version("KO~PEP", 1, {"entry_z": 2.0, "lookback": 60}, "2000", "2010")
    assert base.startswith("ps-") and len(base) == 23
    same = parameter_set_version(
        "KO~PEP", 1, {"lookback": np.int64(60), "entry_z": np.float64(2)}, "2000", "2010"
    )
    assert same == base
    changed = {
        parameter_set_version("KO~PEP", 2, {"entry_z": 2.0, "lookback": 60}, "2000", "2010"),
        parameter_set_version("KO~PEO", 1, {"entry_z": 2.0, "lookback": 60}, "2000", "2010"),
        parameter_set_version("KO~PEP", 1, {"entry_z": 2.1, "lookback": 60}, "2000", "2010"),
        parameter_set_version("KO~PEP", 1, {"entry_z": 2.0, "lookback": 60}, "2000", "2011"),
    }
    assert base not in changed and len(changed) == 4
    day = dt.date(2020, 1, 2)
    assert parameter_set_version("A~B", 0, {}, day, day) == parameter_set_version(
        "A~B", 0, {}, "2020-01-02", "2020-01-02"
    )
    no_stop = parameter_set_version("A~B", 0, {"stop_z": float("inf")}, 0, 1)
    assert no_stop != parameter_set_version("A~B", 0, {"stop_z": 4.0}, 0, 1)
    labelled = parameter_set_version("A~B", 0, {"stop_z": 4.0, "version": "old-label"}, 0, 1)
    assert labelled == parameter_set_version("A~B", 0, {"stop_z": 4.0}, 0, 1)
    with pytest.raises(ValueError, match="NaN"):
        parameter_set_version("A~B", 0, {"entry_z": float("nan")}, 0, 1)
    with pytest.raises(ValueError, match="pair"):
        parameter_set_version("", 0, {}, 0, 1)


def test_combo_params_reads_the_usual_containers() -> None:
    @dataclass(frozen=True)
    class Combo:
        entry_z: float
        lookback: int

    Named = namedtuple("Named", "entry_z lookback")
    row = np.array([(2.0, 60)], dtype=[("entry_z", "f8"), ("lookback", "i8")])[0]
    expected = {"entry_z": 2, "lookback": 60}
    for combo in (Combo(2.0, 60), Named(2.0, 60), row, {"entry_z": 2.0, "lookback": 60}):
        assert combo_params(combo) == expected
    with pytest.raises(TypeError, match="cannot read parameters"):
        combo_params((2.0, 60))
