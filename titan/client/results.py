"""Typed results of `titan.client` (tabular ones are pandas DataFrames, built here too)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pandas as pd

from titan.client.errors import InvalidRequest

When = str | date | datetime


def iso(name: str, value: When | None) -> str | None:
    """An ISO UTC timestamp for a query (naive = UTC; a bare date = its midnight)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:
            raise InvalidRequest(f"{name}={value!r} is not an ISO date or datetime") from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _when(value: Any) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def frame(
    rows: Iterable[Mapping[str, Any]], columns: list[str], times: Iterable[str] = ()
) -> pd.DataFrame:
    """Rows as a DataFrame with these columns in this order (also when there are no rows)."""
    out = pd.DataFrame(list(rows), columns=columns)
    for col in times:
        out[col] = pd.to_datetime(out[col], utc=True, format="ISO8601")
    return out


@dataclass(frozen=True)
class PairRecord:
    pair_id: str
    a: str
    b: str
    state: str
    since: datetime
    consecutive_passes: int
    strikes: int
    degraded_screens: int
    screens: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PairRecord:
        since = _when(d["since"])
        assert since is not None
        return cls(d["pair_id"], d["a"], d["b"], d["state"], since, int(d["consecutive_passes"]),
                   int(d["strikes"]), int(d["degraded_screens"]), int(d["screens"]))  # fmt: skip


@dataclass(frozen=True)
class PairDetail:
    pair: PairRecord | None
    tests: pd.DataFrame  # the pair's recent cointegration tests, newest first as served


@dataclass(frozen=True)
class PairTest:
    """An Engle-Granger test of two symbols on the stored closes."""

    pair_id: str
    a: str
    b: str
    start: datetime
    end: datetime
    n_obs: int
    hedge_ratio: float
    intercept: float
    adf_stat: float
    pvalue: float
    lag: int
    half_life: float | None
    hurst: float | None
    crit_values: dict[str, float]
    cointegrated_5pct: bool

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PairTest:
        start, end = _when(d["start"]), _when(d["end"])
        assert start is not None and end is not None
        return cls(d["pair_id"], d["a"], d["b"], start, end, int(d["n_obs"]),
                   float(d["hedge_ratio"]), float(d["intercept"]), float(d["adf_stat"]),
                   float(d["pvalue"]), int(d["lag"]), d.get("half_life"), d.get("hurst"),
                   dict(d.get("crit_values") or {}), bool(d["cointegrated_5pct"]))  # fmt: skip


@dataclass(frozen=True)
class PairStability:
    """The Engle-Granger test repeated on consecutive sub-windows of the period."""

    pair_id: str
    n_windows: int
    alpha: float
    pass_fraction: float
    pvalue_min: float
    pvalue_max: float
    windows: pd.DataFrame  # start, end, pvalue per sub-window


@dataclass(frozen=True)
class ScreenRequest:
    request_id: str
    requested_at: datetime
    as_of: datetime | None
    status: str
    outcome: Any

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ScreenRequest:
        requested = _when(d["requested_at"])
        assert requested is not None
        return cls(d["request_id"], requested, _when(d.get("as_of")), d["status"], d.get("outcome"))


@dataclass(frozen=True)
class RegimeFit:
    scope: str
    version: str
    fitted_at: datetime | None
    window_start: datetime | None
    window_end: datetime | None
    nobs: int
    llf: float
    params: Any
    model: dict[str, Any]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RegimeFit:
        return cls(str(d["scope"]), str(d["version"]), _when(d.get("fitted_at")),
                   _when(d.get("window_start")), _when(d.get("window_end")), int(d["nobs"]),
                   float(d["llf"]), d.get("params"), dict(d.get("model") or {}))  # fmt: skip


@dataclass(frozen=True)
class BacktestJob:
    """A backtest or walk-forward job as the service reports it (status, progress, queue)."""

    request_id: str
    status: str  # queued | running | completed | failed
    kind: str | None = None
    pair_id: str | None = None
    progress: float = 0.0
    attempts: int = 0
    reason: str | None = None
    queue_position: int | None = None  # 1 = next to run; None unless queued

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed")

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BacktestJob:
        return cls(str(d["request_id"]), str(d["status"]), d.get("kind"), d.get("pair_id"),
                   float(d.get("progress") or 0.0), int(d.get("attempts") or 0), d.get("reason"),
                   d.get("queue_position"))  # fmt: skip


@dataclass(frozen=True)
class BacktestResult:
    request_id: str
    kind: str
    pair_id: str
    metrics: dict[str, Any]
    best_params: dict[str, Any] | None
    n_combinations: int
    n_trades: int
    n_trials: int
    data_start: datetime | None
    data_end: datetime | None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> BacktestResult:
        return cls(str(d["request_id"]), str(d["kind"]), str(d["pair_id"]),
                   dict(d.get("metrics") or {}), d.get("best_params"),
                   int(d.get("n_combinations") or 0), int(d.get("n_trades") or 0),
                   int(d.get("n_trials") or 0), _when(d.get("data_start")),
                   _when(d.get("data_end")))  # fmt: skip
