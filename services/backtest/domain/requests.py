"""Backtest requests: parsing and validation into a typed job spec (pure, no I/O).

A request (BacktestRequested, the HTTP body or the CLI flags) names a pair, a time range, a
parameter grid, costs and options. Validation happens once, here, with messages that name
the offending field and value; the job runner only ever sees a valid `JobSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from services.backtest.engine import Costs, ParamGrid
from services.backtest.metrics import HIGHER_IS_BETTER
from shared.events import BacktestRequested, derive_id, ensure_utc, pair_id
from shared.events.market import INTERVAL_SECONDS, SYMBOL_PATTERN

JobKind = Literal["backtest", "walk_forward"]
GRID_FLOATS = ("entry_z", "exit_z", "stop_z", "time_stop_half_lives")
GRID_KEYS = (*GRID_FLOATS, "lookback")
COST_KEYS = ("commission_bps", "slippage_bps", "borrow_bps")
REGIME_SOURCES = ("none", "market", "pair_spread")
# A grid beyond this many combinations is refused: on the two shared cores a 100k-combo run
# over 15 years of daily bars takes minutes and gigabytes; split such searches into requests.
MAX_COMBINATIONS = 20_000
DEFAULT_GRID: dict[str, tuple[float, ...]] = {
    "entry_z": (1.5, 2.0, 2.5),
    "exit_z": (0.0, 0.5),
    "stop_z": (4.0,),
    "lookback": (20, 60),
    "time_stop_half_lives": (3.0,),
}


class RequestInvalid(ValueError):
    """A request that can never run; `field` names the part of the request at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class WalkForwardOptions:
    train_bars: int = 504
    test_bars: int = 126
    step: int | None = None
    mode: Literal["rolling", "expanding"] = "rolling"
    objective: str = "sharpe"
    regimes: Literal["none", "market", "pair_spread"] = "pair_spread"
    min_in_sample_trades: int = 1
    min_oos_sharpe: float = 0.5
    min_oos_trades: int = 10
    max_oos_drawdown: float = 0.25
    min_deflated_sharpe: float = 0.95
    # Shrink train_bars and test_bars (4:1) to the bars the pair has when there are fewer
    # than train_bars + test_bars: a pair's activation is tuned on the history it has.
    fit_to_history: bool = False

    def fitted(self, n_bars: int) -> WalkForwardOptions:
        """The options for `n_bars` of history (unchanged unless fit_to_history)."""
        if not self.fit_to_history or self.train_bars + self.test_bars <= n_bars:
            return self
        test = max(1, n_bars // 5)
        step = None if self.step is None else max(test, min(self.step, test))
        return replace(self, train_bars=max(2, n_bars - test), test_bars=test, step=step)


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs besides the price history."""

    request_id: str
    kind: JobKind
    a: str
    b: str
    start: datetime | None
    end: datetime | None
    interval: str
    grid: dict[str, tuple[float, ...]]
    costs: dict[str, float]
    fill: Literal["next_close", "same_close"] = "next_close"
    hedge: Literal["ols", "rolling"] = "rolling"
    sizing: Literal["dollar_neutral", "beta_neutral"] = "dollar_neutral"
    walk_forward: WalkForwardOptions = field(default_factory=WalkForwardOptions)

    @property
    def pair_id(self) -> str:
        return pair_id(self.a, self.b)

    def param_grid(self) -> ParamGrid:
        return ParamGrid(
            entry_z=self.grid["entry_z"],
            exit_z=self.grid["exit_z"],
            stop_z=self.grid["stop_z"],
            lookback=[int(v) for v in self.grid["lookback"]],
            time_stop_half_lives=self.grid["time_stop_half_lives"],
            sizing=self.sizing,
        )

    def engine_costs(self) -> Costs:
        return Costs(
            commission_bps=self.costs["commission_bps"],
            slippage_bps=self.costs["slippage_bps"],
            borrow_bps_annual=self.costs["borrow_bps"],
            bars_per_year=bars_per_year(self.interval),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = None if self.start is None else self.start.isoformat()
        data["end"] = None if self.end is None else self.end.isoformat()
        data["grid"] = {k: [_json_float(v) for v in vs] for k, vs in self.grid.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSpec:
        return cls(
            request_id=str(data["request_id"]),
            kind=data["kind"],
            a=str(data["a"]),
            b=str(data["b"]),
            start=None if data["start"] is None else datetime.fromisoformat(data["start"]),
            end=None if data["end"] is None else datetime.fromisoformat(data["end"]),
            interval=str(data["interval"]),
            grid={k: tuple(float(v) for v in vs) for k, vs in data["grid"].items()},
            costs={k: float(v) for k, v in data["costs"].items()},
            fill=data["fill"],
            hedge=data["hedge"],
            sizing=data["sizing"],
            walk_forward=WalkForwardOptions(**data["walk_forward"]),
        )


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def bars_per_year(interval: str) -> float:
    """252 trading days a year; intraday bars assume 6.5 trading hours a day."""
    seconds = INTERVAL_SECONDS[interval]
    if seconds >= 86_400:
        return 252.0 * 86_400 / seconds
    return 252.0 * 6.5 * 3600 / seconds


def parse_grid(raw: Mapping[str, Sequence[float]]) -> dict[str, tuple[float, ...]]:
    """Grid values per parameter; missing parameters take the default grid's values."""
    unknown = sorted(set(raw) - set(GRID_KEYS))
    if unknown:
        raise RequestInvalid(
            "grid", f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(GRID_KEYS)}"
        )
    grid: dict[str, tuple[float, ...]] = {}
    for name in GRID_KEYS:
        if name not in raw:
            grid[name] = DEFAULT_GRID[name]
            continue
        values = list(raw[name])
        if not values:
            raise RequestInvalid(f"grid.{name}", "needs at least one value")
        try:
            floats = tuple(sorted({float(v) for v in values}))
        except (TypeError, ValueError) as exc:
            raise RequestInvalid(f"grid.{name}", f"values must be numbers, got {values}") from exc
        if any(math.isnan(v) for v in floats):
            raise RequestInvalid(f"grid.{name}", "NaN is not a parameter value")
        if name == "lookback" and any(not v.is_integer() or v < 2 for v in floats):
            raise RequestInvalid("grid.lookback", f"lookbacks must be integers >= 2, got {values}")
        if name in ("entry_z", "exit_z") and any(math.isinf(v) for v in floats):
            raise RequestInvalid(f"grid.{name}", f"must be finite, got {values}")
        grid[name] = floats
    return grid


def parse_costs(raw: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(raw) - set(COST_KEYS))
    if unknown:
        raise RequestInvalid(
            "costs", f"unknown cost(s) {', '.join(unknown)}; known: {', '.join(COST_KEYS)}"
        )
    costs: dict[str, float] = {}
    for name in COST_KEYS:
        value = raw.get(name, 0.0)
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise RequestInvalid(f"costs.{name}", f"must be a number, got {value!r}") from exc
        if not (math.isfinite(number) and number >= 0):
            raise RequestInvalid(f"costs.{name}", f"must be finite and >= 0, got {value!r}")
        costs[name] = number
    return costs


def _choice(options: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> Any:
    value = options.get(name, default)
    if value not in allowed:
        raise RequestInvalid(f"options.{name}", f"must be one of {list(allowed)}, got {value!r}")
    return value


def _int(options: Mapping[str, Any], name: str, default: int | None, low: int) -> int | None:
    value = options.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise RequestInvalid(f"options.{name}", f"must be an integer, got {value!r}")
    if value < low:
        raise RequestInvalid(f"options.{name}", f"must be >= {low}, got {value!r}")
    return int(value)


def _float(options: Mapping[str, Any], name: str, default: float) -> float:
    value = options.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise RequestInvalid(f"options.{name}", f"must be a number, got {value!r}")
    return float(value)


KNOWN_OPTIONS = (
    "fill",
    "hedge",
    "sizing",
    "train_bars",
    "test_bars",
    "step",
    "mode",
    "objective",
    "regimes",
    "min_in_sample_trades",
    "min_oos_sharpe",
    "min_oos_trades",
    "max_oos_drawdown",
    "min_deflated_sharpe",
    "fit_to_history",
)


def parse_walk_forward(options: Mapping[str, Any]) -> WalkForwardOptions:
    d = WalkForwardOptions()
    train = _int(options, "train_bars", d.train_bars, 2)
    test = _int(options, "test_bars", d.test_bars, 1)
    step = _int(options, "step", None, 1)
    assert train is not None and test is not None
    if step is not None and step < test:
        raise RequestInvalid(
            "options.step", f"step ({step}) must be >= test_bars ({test}) so tests never overlap"
        )
    objective = options.get("objective", d.objective)
    if objective not in HIGHER_IS_BETTER:
        raise RequestInvalid(
            "options.objective",
            f"unknown objective {objective!r}; known: {', '.join(sorted(HIGHER_IS_BETTER))}",
        )
    min_trades = _int(options, "min_in_sample_trades", d.min_in_sample_trades, 0)
    min_oos_trades = _int(options, "min_oos_trades", d.min_oos_trades, 0)
    assert min_trades is not None and min_oos_trades is not None
    return WalkForwardOptions(
        train_bars=train,
        test_bars=test,
        step=step,
        mode=_choice(options, "mode", ("rolling", "expanding"), d.mode),
        objective=str(objective),
        regimes=_choice(options, "regimes", REGIME_SOURCES, d.regimes),
        min_in_sample_trades=min_trades,
        min_oos_sharpe=_float(options, "min_oos_sharpe", d.min_oos_sharpe),
        min_oos_trades=min_oos_trades,
        max_oos_drawdown=_float(options, "max_oos_drawdown", d.max_oos_drawdown),
        min_deflated_sharpe=_float(options, "min_deflated_sharpe", d.min_deflated_sharpe),
        fit_to_history=_bool(options, "fit_to_history", d.fit_to_history),
    )


def _bool(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise RequestInvalid(f"options.{name}", f"must be true or false, got {value!r}")
    return value


def validate_symbol(field_name: str, symbol: str) -> str:
    if not SYMBOL_PATTERN.match(symbol):
        raise RequestInvalid(field_name, f"malformed symbol {symbol!r}")
    return symbol


def parse_request(event: BacktestRequested) -> JobSpec:
    """A valid job spec, or RequestInvalid naming the field at fault."""
    if not event.request_id:
        raise RequestInvalid("request_id", "must be non-empty")
    a, b = validate_symbol("a", event.a), validate_symbol("b", event.b)
    if a == b:
        raise RequestInvalid("b", f"a pair needs two different symbols, got {a} twice")
    start = None if event.start is None else ensure_utc(event.start)
    end = None if event.end is None else ensure_utc(event.end)
    if start is not None and end is not None and end <= start:
        raise RequestInvalid(
            "end", f"end {end.isoformat()} must be after start {start.isoformat()}"
        )
    if event.interval not in INTERVAL_SECONDS:
        raise RequestInvalid(
            "interval", f"unknown interval {event.interval!r}; use one of {list(INTERVAL_SECONDS)}"
        )
    unknown = sorted(set(event.options) - set(KNOWN_OPTIONS))
    if unknown:
        raise RequestInvalid(
            "options", f"unknown option(s) {', '.join(unknown)}; known: {', '.join(KNOWN_OPTIONS)}"
        )
    spec = JobSpec(
        request_id=event.request_id,
        kind=event.kind,
        a=a,
        b=b,
        start=start,
        end=end,
        interval=event.interval,
        grid=parse_grid(event.grid),
        costs=parse_costs(event.costs),
        fill=_choice(event.options, "fill", ("next_close", "same_close"), "next_close"),
        hedge=_choice(event.options, "hedge", ("ols", "rolling"), "rolling"),
        sizing=_choice(
            event.options, "sizing", ("dollar_neutral", "beta_neutral"), "dollar_neutral"
        ),
        walk_forward=parse_walk_forward(event.options),
    )
    try:
        grid = spec.param_grid()
    except ValueError as exc:
        raise RequestInvalid("grid", str(exc)) from exc
    if len(grid) > MAX_COMBINATIONS:
        raise RequestInvalid(
            "grid", f"{len(grid)} valid combinations exceed the limit of {MAX_COMBINATIONS}"
        )
    return spec


def request_id_for_pair(pair: str, as_of: datetime, kind: JobKind) -> str:
    """The id of the job a pair's activation starts: same pair and as_of, same id."""
    return str(derive_id("backtest-request", pair, ensure_utc(as_of), kind))


def request_id_for_body(body: Mapping[str, Any]) -> str:
    """An HTTP/CLI request without an id gets one from its canonical content (idempotent POST)."""
    import json

    return str(derive_id("backtest-request", json.dumps(body, sort_keys=True, default=str)))
