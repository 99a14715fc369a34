"""The console's pure parts: min-max downsampling (against a plain-Python oracle) and the
view models its pages draw, with no infrastructure."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.console import views


def oracle_minmax(values: list[float], max_points: int) -> list[int]:
    """The definition, one bucket at a time: first/last point, each bucket's first minimum
    and first maximum over its non-NaN values (its first point when it has none)."""
    n = len(values)
    if n <= max_points:
        return list(range(n))
    buckets = max_points // 2
    size = math.ceil(n / buckets)
    keep = {0, n - 1}
    for b in range(buckets):
        chunk = [(i, values[i]) for i in range(b * size, min(n, (b + 1) * size))]
        if not chunk:
            continue
        finite = [(i, v) for i, v in chunk if not math.isnan(v)]
        if not finite:
            keep.add(chunk[0][0])
            continue
        low = min(v for _, v in finite)
        high = max(v for _, v in finite)
        keep.add(next(i for i, v in finite if v == low))
        keep.add(next(i for i, v in finite if v == high))
    return sorted(keep)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan)),
        min_size=0,
        max_size=400,
    ),
    max_points=st.integers(4, 120),
)
def test_minmax_indices_agree_with_the_oracle(values: list[float], max_points: int) -> None:
    got = views.minmax_indices(np.array(values, dtype=float), max_points).tolist()
    assert got == oracle_minmax(values, max_points)


def test_minmax_keeps_a_spike_that_striding_would_drop() -> None:
    z = np.sin(np.linspace(0, 60, 8_300))
    z[4_321] = 9.0  # one bar's extreme z-score
    kept = views.minmax_indices(z, 200)
    assert 4_321 in kept and len(kept) <= 202
    assert kept[0] == 0 and kept[-1] == len(z) - 1


def test_minmax_refuses_fewer_than_four_points() -> None:
    with pytest.raises(ValueError, match="at least 4"):
        views.minmax_indices([1.0, 2.0], 3)


def _columns(n: int) -> dict[str, list[object]]:
    start = datetime(1990, 1, 1, tzinfo=UTC)
    times = [(start + timedelta(days=i)).isoformat() for i in range(n)]
    z: list[object] = [None] * 5 + [math.sin(i / 7) for i in range(5, n)]
    return {
        "bar_time": times,
        "price_a": [100 + i * 0.01 for i in range(n)],
        "price_b": [50 + math.cos(i / 30) for i in range(n)],
        "spread": [math.sin(i / 11) for i in range(n)],
        "z_score": z,
        "hedge_ratio": [1.1] * n,
    }


def test_downsample_columns_keeps_marked_bars_and_aligns_every_column() -> None:
    columns = _columns(3_000)
    marked = [str(columns["bar_time"][1234]), str(columns["bar_time"][2])]
    # The signals service spells UTC "Z", the pairs service "+00:00": same instants.
    spelled = [t.replace("+00:00", "Z") for t in marked]
    out = views.downsample_columns(
        {**columns, "pair_id": "KO~PEP"}, views.SPREAD_SERIES, 100, keep_times=spelled
    )
    assert "pair_id" not in out
    assert set(marked) <= set(out["bar_time"])
    assert len({len(v) for v in out.values()}) == 1  # every column cut at the same rows
    assert len(out["bar_time"]) <= 4 * 100 + 2 + len(marked)
    assert out["bar_time"] == sorted(out["bar_time"])
    row = columns["bar_time"].index(out["bar_time"][40])
    assert [out[k][40] for k in columns] == [columns[k][row] for k in columns]


def test_line_points_skip_missing_values_and_use_epoch_seconds() -> None:
    points = views.line_points(
        ["2020-01-02T00:00:00+00:00", "2020-01-03T00:00:00+00:00"], [None, 1.5]
    )
    assert points == [{"time": 1578009600, "value": 1.5}]


def _pair(pair_id: str, state: str, test: dict[str, object] | None) -> dict[str, object]:
    a, b = pair_id.split("~")
    return {"pair_id": pair_id, "a": a, "b": b, "state": state,
            "since": "2015-03-02T00:00:00+00:00", "latest_test": test}  # fmt: skip


def test_pair_rows_show_the_adjusted_p_value_and_put_active_pairs_first() -> None:
    rows = views.pair_rows([
        _pair("GE~KO", "retired", {"pvalue": 0.2, "half_life": 40.0, "hedge_ratio": 0.5}),
        _pair("KO~PEP", "active", {"pvalue": 0.001, "pvalue_adjusted": 0.01,
                                    "half_life": 12.5, "hedge_ratio": 1.2,
                                    "window_end": "2020-01-01T00:00:00+00:00"}),
        _pair("CVX~PFE", "candidate", None),
    ])  # fmt: skip
    assert [r["pair_id"] for r in rows] == ["KO~PEP", "CVX~PFE", "GE~KO"]
    assert (rows[0]["pvalue"], rows[0]["half_life"], rows[0]["hedge_ratio"]) == (0.01, 12.5, 1.2)
    assert rows[0]["tested_until"] == "2020-01-01T00:00:00+00:00"
    assert rows[1]["pvalue"] is None and rows[2]["pvalue"] == 0.2


DEFAULTS = {"entry_z": 2.0, "exit_z": 0.5, "stop_z": 4.0}


def test_thresholds_prefer_the_pairs_own_set_then_the_default_set_then_the_engine() -> None:
    own = {"pair_id": "KO~PEP", "regime": None, "version": "v7", "no_trade": False,
           "params": {"entry_z": 1.5, "exit_z": 0.25, "stop_z": 3.0}}  # fmt: skip
    star = {"pair_id": "*", "regime": None, "version": "v1", "no_trade": False,
            "params": {"entry_z": 2.5, "exit_z": 0.0, "stop_z": 5.0}}  # fmt: skip
    assert views.thresholds("KO~PEP", [star, own], DEFAULTS)["entry_z"] == 1.5
    assert views.thresholds("GE~KO", [star, own], DEFAULTS)["version"] == "v1"
    assert views.thresholds("GE~KO", [], DEFAULTS) == {
        "entry_z": 2.0, "exit_z": 0.5, "stop_z": 4.0, "version": "default", "regime": None,
    }  # fmt: skip


def test_signal_markers_are_sorted_and_shaped_by_action() -> None:
    markers = views.signal_markers([
        {"action": "close", "bar_time": "2020-02-03T00:00:00+00:00"},
        {"action": "open_short_spread", "bar_time": "2020-01-02T00:00:00+00:00"},
        {"action": "stop", "bar_time": "2020-03-02T00:00:00+00:00"},
    ])  # fmt: skip
    assert [m["text"] for m in markers] == ["open_short_spread", "close", "stop"]
    assert [m["shape"] for m in markers] == ["arrowDown", "circle", "square"]
    assert markers[0]["position"] == "aboveBar"


def test_regime_lines_one_line_per_regime_oldest_first() -> None:
    lines = views.regime_lines([
        {"bar_time": "2020-01-03T00:00:00+00:00", "probabilities": [0.25, 0.75]},
        {"bar_time": "2020-01-02T00:00:00+00:00", "probabilities": [0.5, 0.5]},
    ])  # fmt: skip
    assert len(lines) == 2
    assert [p["value"] for p in lines[1]] == [0.5, 0.75]
    assert lines[0][0]["time"] < lines[0][1]["time"]
    assert views.regime_lines([]) == []


def test_regime_lines_of_a_long_history_keep_every_switch() -> None:
    start = datetime(1990, 1, 1, tzinfo=UTC)
    history = [{"bar_time": (start + timedelta(days=i)).isoformat(),
                "probabilities": [1.0, 0.0] if (i // 700) % 2 == 0 else [0.0, 1.0]}
               for i in range(8_300)]  # fmt: skip
    lines = views.regime_lines(history, max_points=200)
    assert len(lines) == 2 and len(lines[0]) <= 2 * 202
    switches = {i for i in range(1, 8_300) if i % 700 == 0}
    times = {p["time"] for p in lines[1]}
    epoch = int(start.timestamp())
    for i in switches:  # the first bar of each new regime is drawn
        assert epoch + i * 86_400 in times or epoch + (i - 1) * 86_400 in times


def test_pnl_view_downsamples_a_long_curve_and_keeps_the_last_mark() -> None:
    start = datetime(1990, 1, 1, tzinfo=UTC)
    curve = [{"bar_time": (start + timedelta(days=i)).isoformat(), "equity": 1e6 + i,
              "drawdown": -0.001 * (i % 50), "pnl": float(i)} for i in range(8_300)]  # fmt: skip
    view = views.pnl_view({"curve": curve}, max_points=500)
    assert view["points"]["stored"] == 8_300 and view["points"]["drawn"] <= 1002
    assert view["last"] == curve[-1]
    assert views.pnl_view({"curve": []})["equity"] == []
