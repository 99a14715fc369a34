"""Detection delay / false-shift table on synthetic switches behaves monotonically."""

from __future__ import annotations

import numpy as np
import pytest

from core.regime.detection_eval import (
    MIN_BARS,
    THRESHOLDS,
    DetectionRow,
    detection_table,
    markdown_table,
    score_shifts,
)


@pytest.fixture(scope="module")
def table() -> dict[tuple[float, int], DetectionRow]:
    return {(r.threshold, r.min_bars): r for r in detection_table(n_series=12, n_bars=2000)}


def test_table_covers_the_grid(table: dict[tuple[float, int], DetectionRow]) -> None:
    assert set(table) == {(t, m) for t in THRESHOLDS for m in MIN_BARS}
    for row in table.values():
        assert row.detected + row.missed == row.true_switches > 50
        # The synthetic switches are large: almost all of them must be found.
        assert row.detected >= 0.95 * row.true_switches


def test_stricter_threshold_means_fewer_false_shifts_and_longer_delay(
    table: dict[tuple[float, int], DetectionRow],
) -> None:
    for bars in MIN_BARS:
        rows = [table[(t, bars)] for t in THRESHOLDS]
        false = [r.false_shifts for r in rows]
        delay = [r.mean_delay_bars for r in rows]
        assert false == sorted(false, reverse=True)
        assert delay == sorted(delay)
        assert false[0] > false[-1]
        assert delay[-1] > delay[0]


def test_more_min_bars_means_fewer_false_shifts_and_longer_delay(
    table: dict[tuple[float, int], DetectionRow],
) -> None:
    for threshold in THRESHOLDS:
        rows = [table[(threshold, m)] for m in MIN_BARS]
        false = [r.false_shifts for r in rows]
        delay = [r.mean_delay_bars for r in rows]
        assert false == sorted(false, reverse=True)
        assert delay == sorted(delay)
        assert delay[-1] - delay[0] >= MIN_BARS[-1] - MIN_BARS[0] - 1


def test_markdown_has_one_line_per_setting(table: dict[tuple[float, int], DetectionRow]) -> None:
    lines = markdown_table(list(table.values())).splitlines()
    assert len(lines) == 2 + len(table)


def test_score_shifts_counts_delays_misses_and_false_shifts() -> None:
    regimes = np.array([0.0] * 10 + [1.0] * 10 + [0.0] * 10)
    # 13: detects the switch at 10 (delay 3); 15 -> 0 is false; 16 -> 1 is false (already
    # detected); nothing detects the return at 20.
    delays, missed, false = score_shifts(regimes, [13, 15, 16], [1, 0, 1])
    assert delays == [3]
    assert missed == 1
    assert false == 2
