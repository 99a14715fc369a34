from __future__ import annotations

import pytest

from services.backtest.walkforward import make_splits


def test_rolling_splits_slide_a_fixed_window() -> None:
    splits = make_splits(100, train_bars=40, test_bars=20)
    assert [(s.train_start, s.train_end, s.test_start, s.test_end) for s in splits] == [
        (0, 40, 40, 60),
        (20, 60, 60, 80),
        (40, 80, 80, 100),
    ]
    assert all(s.train_bars == 40 and s.test_bars == 20 for s in splits)
    assert [s.index for s in splits] == [0, 1, 2]


def test_expanding_splits_grow_from_bar_zero_with_gaps_when_step_exceeds_test() -> None:
    splits = make_splits(100, train_bars=30, test_bars=10, step=25, mode="expanding")
    assert [(s.train_start, s.train_end, s.test_start, s.test_end) for s in splits] == [
        (0, 30, 30, 40),
        (0, 55, 55, 65),
        (0, 80, 80, 90),
    ]


def test_incomplete_last_test_window_is_dropped() -> None:
    splits = make_splits(95, train_bars=40, test_bars=20)
    assert splits[-1].test_end == 80


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bars": 100, "train_bars": 40, "test_bars": 20, "step": 10}, "overlapping"),
        ({"n_bars": 50, "train_bars": 40, "test_bars": 20}, "exceeds the 50 bars"),
        ({"n_bars": 100, "train_bars": 0, "test_bars": 20}, "train_bars must be >= 1"),
        ({"n_bars": 100, "train_bars": 10, "test_bars": 5, "mode": "anchored"}, "mode must be"),
    ],
)
def test_bad_split_requests_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_splits(**kwargs)  # type: ignore[arg-type]
