"""Vectorised backtest of the pair strategy over a whole parameter grid.

One pass over time decides every combination at once with the strategy core's own rule
(:func:`core.strategy.transition.step` on arrays of shape (n_combos,)); z-scores,
hedge ratios and half-lives are computed once per distinct lookback. Fills, costs and PnL
are then computed for all combinations together (see :mod:`.accounting`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.strategy import (
    SIZINGS,
    PositionArrays,
    Sizing,
    StrategyParams,
    gate_bits,
    step,
    z_conditions,
)
from services.backtest.engine.accounting import (
    Costs,
    Fills,
    compute_fills,
    fill_offset,
    pnl_matrix,
)
from services.backtest.engine.spreads import SpreadSeries, compute_spread_series

FloatArray = NDArray[np.float64]
COMBO_DTYPE = np.dtype(
    [
        ("entry_z", "f8"),
        ("exit_z", "f8"),
        ("stop_z", "f8"),
        ("lookback", "i8"),
        ("time_stop_half_lives", "f8"),
    ]
)
_CHUNK_CELLS = 65_536


FloatValues = Sequence[float] | NDArray[np.floating[Any]]
IntValues = Sequence[int] | NDArray[np.integer[Any]]


def _floats(values: FloatValues) -> tuple[float, ...]:
    return tuple(float(v) for v in np.atleast_1d(np.asarray(values, dtype=np.float64)))


# Cells of the full Cartesian product (valid or not) a grid may have; the valid ones are
# limited further by the request (MAX_COMBINATIONS).
MAX_GRID_CELLS = 1_000_000


def _valid_combinations(axes: tuple[tuple[float, ...], ...] | tuple[Any, ...]) -> NDArray[np.void]:
    """The valid rows of the product, in itertools.product order (entry_z slowest)."""
    grids = np.meshgrid(*(np.asarray(a) for a in axes), indexing="ij")
    entry, exit_z, stop, lookback, time_stop = (g.ravel() for g in grids)
    keep = np.isfinite(entry) & (entry > 0) & (-entry < exit_z) & (exit_z < entry) & (stop > entry)
    combos = np.empty(int(keep.sum()), dtype=COMBO_DTYPE)
    for name, column in zip(
        ("entry_z", "exit_z", "stop_z", "lookback", "time_stop_half_lives"),
        (entry, exit_z, stop, lookback, time_stop),
        strict=True,
    ):
        combos[name] = column[keep]
    return combos


@dataclass(frozen=True)
class ParamGrid:
    """Cartesian grid of strategy parameters; one sizing for the whole grid.

    Combinations that are not valid parameter sets (exit_z outside (-entry_z, entry_z) or
    stop_z <= entry_z) are left out, so ``len(grid)`` may be below the product of sizes.
    Order: entry_z slowest, then exit_z, stop_z, lookback, time_stop_half_lives fastest.
    """

    entry_z: FloatValues
    exit_z: FloatValues
    stop_z: FloatValues
    lookback: IntValues
    time_stop_half_lives: FloatValues = (math.inf,)
    sizing: Sizing = "dollar_neutral"
    _combos: NDArray[np.void] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("entry_z", "exit_z", "stop_z", "time_stop_half_lives"):
            object.__setattr__(self, name, _floats(getattr(self, name)))
        lookbacks = tuple(int(v) for v in np.atleast_1d(np.asarray(self.lookback)))
        object.__setattr__(self, "lookback", lookbacks)
        if self.sizing not in SIZINGS:
            raise ValueError(f"sizing must be one of {SIZINGS}, got {self.sizing!r}")
        if any(lb < 2 for lb in lookbacks):
            raise ValueError(f"lookbacks must be >= 2 bars, got {lookbacks}")
        if any(math.isnan(k) or k <= 0 for k in self.time_stop_half_lives):
            raise ValueError(
                f"time_stop_half_lives must be > 0 or inf, got {self.time_stop_half_lives}"
            )
        axes = (self.entry_z, self.exit_z, self.stop_z, lookbacks, self.time_stop_half_lives)
        # Bounded before any work: a 727-byte request once built 10^7 combinations in Python
        # (20 s with the event loop blocked) before the limit on valid ones was checked.
        cells = math.prod(len(a) for a in axes)
        if cells > MAX_GRID_CELLS:
            sizes = " x ".join(str(len(a)) for a in axes)
            raise ValueError(f"the grid has {sizes} = {cells} cells, over {MAX_GRID_CELLS}")
        combos = _valid_combinations(axes)
        if len(combos) == 0:
            raise ValueError("the grid has no valid combination (need exit < entry < stop)")
        object.__setattr__(self, "_combos", combos)

    @classmethod
    def from_params(cls, params: StrategyParams) -> ParamGrid:
        return cls(
            entry_z=(params.entry_z,),
            exit_z=(params.exit_z,),
            stop_z=(params.stop_z,),
            lookback=(params.lookback,),
            time_stop_half_lives=(params.time_stop_half_lives,),
            sizing=params.sizing,
        )

    def combinations(self) -> NDArray[np.void]:
        """Structured array (fields of COMBO_DTYPE), one row per valid combination."""
        return self._combos.copy()

    def __len__(self) -> int:
        return len(self._combos)

    def params(self, index: int, version: str | None = None) -> StrategyParams:
        row = self._combos[index]
        return StrategyParams(
            entry_z=float(row["entry_z"]),
            exit_z=float(row["exit_z"]),
            stop_z=float(row["stop_z"]),
            lookback=int(row["lookback"]),
            time_stop_half_lives=float(row["time_stop_half_lives"]),
            sizing=self.sizing,
            version=version or f"grid-{index}",
        )


@dataclass(frozen=True)
class GridResult:
    """Backtest of every combination: ``returns`` is (T, C) PnL / capital per bar."""

    times: NDArray[np.generic]
    combos: NDArray[np.void]
    actions: NDArray[np.int8]  # (T, C) decision of each bar, ActionCode values
    returns: FloatArray
    pnl: FloatArray  # (C,) total PnL in currency (incl. open positions marked to market)
    trade_counts: NDArray[np.int64]  # (C,) filled entries
    capital: float
    fills: Fills


def decide_grid(
    spreads: SpreadSeries,
    combos: NDArray[np.void],
    tradable: NDArray[np.bool_],
    force_close: NDArray[np.bool_],
) -> NDArray[np.int8]:
    """Actions (T, C) of the strategy core's rule for every combination."""
    n_bars, n_combos = spreads.z_score.shape[0], len(combos)
    column = np.array([spreads.column(int(lb)) for lb in combos["lookback"]], dtype=np.intp)
    entry, exit_z, stop = combos["entry_z"], combos["exit_z"], combos["stop_z"]
    k = np.ascontiguousarray(combos["time_stop_half_lives"])
    # a pair that must be closed (degraded/retired) takes no entries either, as live
    gates = gate_bits(tradable & ~force_close, force_close)[:, None]
    state = PositionArrays.flat(n_combos)
    actions = np.empty((n_bars, n_combos), dtype=np.int8)
    # bar codes are computed in row chunks that stay in cache, then stepped bar by bar
    chunk = max(1, _CHUNK_CELLS // n_combos)
    for start in range(0, n_bars, chunk):
        rows = slice(start, min(start + chunk, n_bars))
        z = spreads.z_score[rows][:, column]
        codes = z_conditions(z, entry, stop, exit_z, stop) | gates[rows]
        half_life = spreads.half_life[rows][:, column]
        for i in range(codes.shape[0]):
            actions[start + i] = step(state, codes[i], half_life[i], k)
    return actions


def check_inputs(
    prices_a: ArrayLike, prices_b: ArrayLike, times: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(prices_a, dtype=np.float64)
    b = np.asarray(prices_b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or len(a) != len(b) or np.shape(times) != a.shape:
        raise ValueError(
            f"prices_a, prices_b and times must be 1-D of one length, got shapes "
            f"{a.shape}, {b.shape}, {np.shape(times)}"
        )
    if len(a) < 2:
        raise ValueError(f"need at least 2 bars, got {len(a)}")
    for name, prices in (("prices_a", a), ("prices_b", b)):
        if not np.all(np.isfinite(prices) & (prices > 0)):
            bad = int(np.flatnonzero(~(np.isfinite(prices) & (prices > 0)))[0])
            raise ValueError(f"{name} must be finite and > 0; bar {bad} is {prices[bad]}")
    return a, b


def _mask(
    mask: NDArray[np.bool_] | None, n_bars: int, default: bool, name: str
) -> NDArray[np.bool_]:
    if mask is None:
        return np.full(n_bars, default)
    out = np.asarray(mask, dtype=bool)
    if out.shape != (n_bars,):
        raise ValueError(f"{name} must have shape ({n_bars},), got {out.shape}")
    return out


def run_grid(
    prices_a: ArrayLike,
    prices_b: ArrayLike,
    times: ArrayLike,
    grid: ParamGrid,
    costs: Costs,
    fill: str = "next_close",
    hedge: str = "ols",
    *,
    capital: float = 1.0,
    hedge_ratio: float | None = None,
    spreads: SpreadSeries | None = None,
    tradable: NDArray[np.bool_] | None = None,
    force_close: NDArray[np.bool_] | None = None,
) -> GridResult:
    """Backtest every combination of ``grid`` on one pair.

    ``hedge``: "ols" (one fit on the whole history, or the fixed ``hedge_ratio``) or
    "rolling" (refit on each combination's lookback window). ``spreads`` replaces that
    computation with precomputed series (e.g. as the live pairs service published them);
    then every lookback of the grid must have a column. ``tradable`` (False = no-trade
    regime or inactive pair: no entries) and ``force_close`` (pair degraded/retired) are
    per-bar masks, as the live machine receives them.
    """
    a, b = check_inputs(prices_a, prices_b, times)
    offset = fill_offset(fill)
    if not (math.isfinite(capital) and capital > 0):
        raise ValueError(f"capital must be finite and > 0, got {capital}")
    combos = grid.combinations()
    if spreads is None:
        spreads = compute_spread_series(a, b, np.unique(combos["lookback"]), hedge, hedge_ratio)
    elif spreads.z_score.shape[0] != len(a):
        raise ValueError(f"spreads have {spreads.z_score.shape[0]} bars, prices {len(a)}")
    n_bars = len(a)
    actions = decide_grid(
        spreads,
        combos,
        _mask(tradable, n_bars, True, "tradable"),
        _mask(force_close, n_bars, False, "force_close"),
    )
    column = np.array([spreads.column(int(lb)) for lb in combos["lookback"]], dtype=np.intp)
    fills = compute_fills(
        actions, spreads.hedge_ratio, column, a, b, grid.sizing, capital, costs, offset
    )
    pnl = pnl_matrix(fills, len(combos), a, b, costs)
    is_entry = (fills.action == 1) | (fills.action == 2)
    return GridResult(
        times=np.asarray(times),
        combos=combos,
        actions=actions,
        returns=pnl / capital,
        pnl=pnl.sum(axis=0),
        trade_counts=np.bincount(fills.combo[is_entry], minlength=len(combos)).astype(np.int64),
        capital=capital,
        fills=fills,
    )
