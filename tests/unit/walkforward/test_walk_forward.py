"""Walk-forward selection per regime against a fake engine, checked by independent loops."""

from __future__ import annotations

import numpy as np
import pytest

from services.backtest.metrics import compute_metrics
from services.backtest.walkforward import ALL_BARS, make_splits, run_walk_forward

from .fake_engine import FakeEngine, two_regime_book


def test_each_regime_gets_the_combo_that_earns_in_it() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    result = run_walk_forward(engine, 1000, splits, labels)
    assert set(result.regimes) == {0, 1}
    assert [s.combo for s in result.regimes[0].selections] == [0] * len(splits)
    assert [s.combo for s in result.regimes[1].selections] == [1] * len(splits)
    assert result.regimes[0].out_of_sample["sharpe"] > 2.0
    assert result.regimes[0].combo_stability == 1.0


def test_stitched_out_of_sample_returns_match_a_plain_loop() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=250, test_bars=150, mode="expanding")
    result = run_walk_forward(engine, 1000, splits, labels)
    chosen = {
        (s.split.index, regime): s.combo
        for regime, summary in result.regimes.items()
        for s in summary.selections
    }
    expected = []
    for split in splits:
        for t in range(split.test_start, split.test_end):
            expected.append(engine.returns[t, chosen[(split.index, int(labels[t]))]])
    np.testing.assert_array_equal(result.oos_returns, np.array(expected))
    assert result.oos_bar_index.tolist() == [
        t for s in splits for t in range(s.test_start, s.test_end)
    ]
    for regime, summary in result.regimes.items():
        assert (labels[summary.oos_bar_index] == regime).all()


def test_in_sample_choice_matches_loop_over_regime_bars() -> None:
    engine, labels = two_regime_book(seed=11)
    engine.returns[:, 2] += np.where(labels == 0, 0.0, 0.01) * (engine.returns[:, 2] != 0)
    splits = make_splits(1000, train_bars=200, test_bars=200)
    result = run_walk_forward(engine, 1000, splits, labels, objective="total_return")
    for regime, summary in result.regimes.items():
        for sel in summary.selections:
            rows = [
                t for t in range(sel.split.train_start, sel.split.train_end) if labels[t] == regime
            ]
            totals = [float(np.prod(1 + engine.returns[rows, c]) - 1) for c in range(15)]
            assert sel.combo == int(np.argmax(totals))  # combo 15 never trades: ineligible
            assert sel.objective_value == pytest.approx(max(totals), rel=1e-12)
            assert sel.in_sample_bars == len(rows)


def test_no_look_ahead_future_bars_do_not_change_past_choices() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    before = run_walk_forward(engine, 1000, splits, labels)
    # Make combo 2 spectacular from bar 600 on: splits trained before bar 600 must not notice.
    held = engine.returns[600:, 2] != 0
    engine.returns[600:, 2][held] = np.abs(engine.returns[600:, 2][held]) + 0.02
    after = run_walk_forward(engine, 1000, splits, labels)
    for regime in (0, 1):
        for old, new in zip(
            before.regimes[regime].selections, after.regimes[regime].selections, strict=True
        ):
            if old.split.train_end <= 600:
                assert new.combo == old.combo
            elif old.split.train_start >= 600:
                assert new.combo == 2


def test_other_regimes_bars_do_not_influence_a_regimes_choice() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    before = run_walk_forward(engine, 1000, splits, labels)
    engine.returns[labels == 1, 2] = 0.05  # combo 2 wins in regime 1 only
    after = run_walk_forward(engine, 1000, splits, labels)
    assert [s.combo for s in after.regimes[0].selections] == [
        s.combo for s in before.regimes[0].selections
    ]
    assert {s.combo for s in after.regimes[1].selections} == {2}


def test_trial_count_and_deflated_sharpe_use_the_whole_search() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    result = run_walk_forward(engine, 1000, splits, labels)
    summary = result.regimes[0]
    assert summary.n_trials == engine.returns.shape[1] * len(splits)
    assert summary.out_of_sample["n_trials"] == summary.n_trials
    assert result.n_trials == sum(s.n_trials for s in result.regimes.values())
    independent = compute_metrics(
        summary.oos_returns,
        n_trials=summary.n_trials,
        trial_sharpe_variance=summary.trial_sharpe_variance,
    )
    assert summary.out_of_sample["deflated_sharpe"] == independent.deflated_sharpe[0]
    assert summary.trial_sharpe_variance > 0


def test_trades_are_counted_per_regime_out_of_sample() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    result = run_walk_forward(engine, 1000, splits, labels)
    assert engine.positions is not None
    for regime, summary in result.regimes.items():
        expected = 0
        for sel in summary.selections:
            pos = engine.positions[:, sel.combo]
            for t in range(sel.split.test_start, sel.split.test_end):
                prev = pos[t - 1] if t > sel.split.train_start else 0.0
                if labels[t] == regime and pos[t] != 0 and prev == 0:
                    expected += 1
        assert summary.oos_trades == expected > 0


def test_contiguous_evaluates_once_per_split_and_separate_mode_twice() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100, step=200)
    run_walk_forward(engine, 1000, splits, labels)
    assert engine.calls == [(s.train_start, s.test_end) for s in splits]
    engine.calls.clear()
    result = run_walk_forward(engine, 1000, splits, labels, contiguous=False)
    assert engine.calls == [
        c for s in splits for c in ((s.train_start, s.train_end), (s.test_start, s.test_end))
    ]
    assert len(result.regimes[0].selections) == len(splits)


def test_single_regime_and_lower_is_better_objective() -> None:
    engine, _ = two_regime_book()
    engine.returns[:, 2] = np.where(engine.returns[:, 2] != 0, 0.0001, 0.0)  # never under water
    splits = make_splits(1000, train_bars=300, test_bars=100)
    result = run_walk_forward(engine, 1000, splits, objective="max_drawdown_duration")
    assert list(result.regimes) == [ALL_BARS]
    assert {s.combo for s in result.regimes[ALL_BARS].selections} == {2}


def test_thin_regimes_are_skipped_with_a_reason_and_the_book_is_flat_there() -> None:
    engine, _ = two_regime_book()
    labels = np.zeros(1000, dtype=np.int64)
    labels[::50] = 1  # 1 bar in 50: never 20 bars in a 300-bar window
    splits = make_splits(1000, train_bars=300, test_bars=100)
    result = run_walk_forward(engine, 1000, splits, labels, min_in_sample_bars=20)
    thin = result.regimes[1]
    assert thin.selections == () and len(thin.skipped) == len(splits)
    assert "in-sample bars < 20" in thin.skipped[0].reason
    ones = np.isin(result.oos_bar_index, np.flatnonzero(labels == 1))
    assert (result.oos_returns[ones] == 0).all()
    assert thin.n_trials == 0 and np.isnan(thin.out_of_sample["sharpe"])


def test_bad_inputs_are_rejected() -> None:
    engine, labels = two_regime_book()
    splits = make_splits(1000, train_bars=300, test_bars=100)
    with pytest.raises(ValueError, match="unknown objective"):
        run_walk_forward(engine, 1000, splits, labels, objective="alpha")
    with pytest.raises(ValueError, match="regimes must have shape"):
        run_walk_forward(engine, 1000, splits, labels[:10])
    with pytest.raises(ValueError, match="no splits"):
        run_walk_forward(engine, 1000, (), labels)
    short = FakeEngine(engine.returns[:, :2])
    with pytest.raises(ValueError, match="ends after"):
        run_walk_forward(short, 500, splits, labels[:500])

    def wrong_shape(start: int, end: int) -> object:
        return engine(start, end - 1)

    with pytest.raises(ValueError, match="expected"):
        run_walk_forward(wrong_shape, 1000, splits, labels)  # type: ignore[arg-type]
