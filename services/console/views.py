"""The console's pure parts: downsampling of long series and the view models of its pages.

No I/O here: the gateway (app.py) fetches the services' JSON and hands it to these functions,
whose output the browser draws as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

# A chart a few hundred pixels wide shows no more than ~2 points per pixel; 33 years of
# daily bars (~8,300) are cut to this many per series, with every extreme kept.
DEFAULT_MAX_POINTS = 2000
SPREAD_SERIES = ("price_a", "price_b", "spread", "z_score")


def minmax_indices(values: npt.ArrayLike, max_points: int) -> npt.NDArray[np.int64]:
    """Indices (sorted, unique) of a min-max downsampling of `values` to about `max_points`:
    the series cut into max_points // 2 buckets of equal length, and of each bucket the
    positions of its minimum and maximum (NaN is ignored; an all-NaN bucket keeps its
    first point), plus the first and last point. Extremes survive, unlike striding, so a
    spike in the spread or the z-score is never hidden."""
    if max_points < 4:
        raise ValueError(f"max_points must be at least 4, got {max_points}")
    data = np.asarray(values, dtype=np.float64)
    n = data.shape[0]
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max_points // 2
    size = -(-n // buckets)  # ceil: every bucket but the last has `size` points
    padded = size * buckets
    lows = np.full(padded, np.inf)
    highs = np.full(padded, -np.inf)
    finite = ~np.isnan(data)
    lows[:n] = np.where(finite, data, np.inf)
    highs[:n] = np.where(finite, data, -np.inf)
    starts = np.arange(buckets, dtype=np.int64) * size
    picked = np.concatenate(
        [
            starts + lows.reshape(buckets, size).argmin(axis=1),
            starts + highs.reshape(buckets, size).argmax(axis=1),
            np.array([0, n - 1], dtype=np.int64),
        ]
    )
    return np.unique(picked[picked < n])


def downsample_columns(
    columns: Mapping[str, Sequence[Any]],
    series: Sequence[str],
    max_points: int,
    keep_times: Sequence[str] = (),
) -> dict[str, list[Any]]:
    """The rows of column-oriented `columns` (one `bar_time` list of ISO strings and value
    lists of one length) that keep each of `series`' min-max extremes and every row whose
    time is in `keep_times` (the bars a signal is marked on: a marker needs its bar)."""
    times = [str(t) for t in columns["bar_time"]]
    keep = [np.arange(0, dtype=np.int64)]
    for name in series:
        values = np.array([np.nan if v is None else v for v in columns[name]], dtype=np.float64)
        keep.append(minmax_indices(values, max_points))
    # By instant, not by spelling: the services write UTC as "Z" or "+00:00".
    wanted = {_epoch_seconds(t) for t in keep_times}
    marked = [i for i, t in enumerate(times) if wanted and _epoch_seconds(t) in wanted]
    keep.append(np.array(marked, dtype=np.int64))
    rows = np.unique(np.concatenate(keep)).tolist()
    return {name: [values[i] for i in rows] for name, values in _aligned(columns, len(times))}


def _aligned(columns: Mapping[str, Any], n: int) -> list[tuple[str, list[Any]]]:
    """The columns that are lists of one value per row (not scalars such as a pair id)."""
    return [(k, list(v)) for k, v in columns.items() if isinstance(v, list | tuple) and len(v) == n]


def _epoch_seconds(iso: str) -> int:
    when = datetime.fromisoformat(iso)
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


def line_points(times: Sequence[str], values: Sequence[float | None]) -> list[dict[str, float]]:
    """lightweight-charts line data ({time: epoch s, value}); a missing value is left out
    (the first bars of a z-score, before its lookback is full)."""
    return [
        {"time": _epoch_seconds(t), "value": float(v)}
        for t, v in zip(times, values, strict=True)
        if v is not None and np.isfinite(v)
    ]


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def pair_rows(pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pairs table: one row per pair with its state, since when, and its most recent
    test's p-value (adjusted for the screen's many tests when the pairs service did),
    half-life and hedge ratio; active pairs first, then by p-value."""
    order = {"active": 0, "degraded": 1, "candidate": 2, "retired": 3}
    rows = []
    for p in pairs:
        test = p.get("latest_test") or {}
        adjusted = test.get("pvalue_adjusted")
        rows.append(
            {
                "pair_id": p["pair_id"],
                "a": p["a"],
                "b": p["b"],
                "state": p["state"],
                "since": p["since"],
                "pvalue": _float_or_none(adjusted if adjusted is not None else test.get("pvalue")),
                "half_life": _float_or_none(test.get("half_life")),
                "hedge_ratio": _float_or_none(test.get("hedge_ratio")),
                "tested_until": test.get("window_end"),
            }
        )
    worst = float("inf")
    rows.sort(key=lambda r: (order.get(r["state"], 9), r["pvalue"] or worst, r["pair_id"]))
    return rows


def thresholds(
    pair_id: str, params_in_force: Sequence[Mapping[str, Any]], defaults: Mapping[str, Any]
) -> dict[str, Any]:
    """Entry, exit and stop |z| of the pair: its own parameter set in force (the one for
    any regime when several), else the published default set ("*"), else `defaults`."""
    own = [p for p in params_in_force if p.get("pair_id") == pair_id and not p.get("no_trade")]
    fallback = [p for p in params_in_force if p.get("pair_id") in ("*", None)]
    chosen = (own or fallback or [{"params": defaults, "version": "default"}])[0]
    params = chosen.get("params") or defaults
    return {
        "entry_z": float(params["entry_z"]),
        "exit_z": float(params["exit_z"]),
        "stop_z": float(params["stop_z"]),
        "version": chosen.get("version", "default"),
        "regime": chosen.get("regime"),
    }


def signal_markers(signals: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Chart markers of a pair's signals: entries as arrows by side, exits as circles,
    stops (z, time, forced) as squares."""
    shapes = {
        "open_long_spread": ("belowBar", "arrowUp", "#26a69a"),
        "open_short_spread": ("aboveBar", "arrowDown", "#ef5350"),
        "close": ("inBar", "circle", "#42a5f5"),
    }
    markers: list[dict[str, Any]] = []
    for s in signals:
        action = str(s["action"])
        position, shape, color = shapes.get(action, ("inBar", "square", "#ffa726"))
        markers.append(
            {
                "time": _epoch_seconds(str(s["bar_time"])),
                "position": position,
                "shape": shape,
                "color": color,
                "text": action,
            }
        )
    markers.sort(key=lambda m: m["time"])
    return markers


def regime_lines(
    history: Sequence[Mapping[str, Any]], max_points: int = DEFAULT_MAX_POINTS
) -> list[list[dict[str, float]]]:
    """One line per regime of the probability history ({time, value} each, oldest first),
    downsampled on every regime's extremes (a regime switch is a jump to 1 or 0: kept)."""
    ordered = sorted(history, key=lambda h: _epoch_seconds(str(h["bar_time"])))
    width = max((len(h["probabilities"]) for h in ordered), default=0)
    columns: dict[str, list[Any]] = {"bar_time": [str(h["bar_time"]) for h in ordered]}
    for k in range(width):
        columns[f"p{k}"] = [
            h["probabilities"][k] if len(h["probabilities"]) > k else None for h in ordered
        ]
    names = [f"p{k}" for k in range(width)]
    kept = downsample_columns(columns, names, max_points) if ordered else columns
    return [line_points(kept["bar_time"], kept[name]) for name in names]


def pnl_view(pnl: Mapping[str, Any], max_points: int = DEFAULT_MAX_POINTS) -> dict[str, Any]:
    """The portfolio's equity and drawdown lines, downsampled on the equity's extremes."""
    curve = pnl.get("curve") or []
    columns = {
        "bar_time": [str(m["bar_time"]) for m in curve],
        "equity": [m["equity"] for m in curve],
        "drawdown": [m["drawdown"] for m in curve],
        "pnl": [m["pnl"] for m in curve],
    }
    kept = downsample_columns(columns, ("equity", "drawdown"), max_points) if curve else columns
    times = kept["bar_time"]
    return {
        "points": {"stored": len(curve), "drawn": len(times)},
        "equity": line_points(times, kept["equity"]),
        "drawdown": line_points(times, kept["drawdown"]),
        "last": curve[-1] if curve else None,
    }
