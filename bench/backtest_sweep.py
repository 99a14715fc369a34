"""Parameter sweep of the z-score pair strategy: TITAN's grid engine against vectorbt.

Same data (KO/PEP daily closes 1990-2022 by default), same grid (10 entry x 5 exit x 4 stop
x 5 lookback = 1,000 combinations), same z-scores (TITAN's spread function, static OLS
hedge, called inside BOTH timed regions), same fills (next bar's close), same costs
(commission + slippage as a proportional fee on each leg's traded value), both in one run.

How vectorbt models the strategy (exact, not approximate): each combination is a group of
two columns (leg A, leg B) with cash sharing; Portfolio.from_signals gets the strategy's
stateless signals (long entry -stop < z <= -entry, long exit z >= -exit or z <= -stop, and
the mirror for shorts; leg B takes the opposite side), shifted one bar for next-close fills,
each leg sized at half the capital in value (dollar-neutral), upon_opposite_entry="close"
(one action per bar, as TITAN). vectorbt resolves the position state itself. The time stop
is off (k = inf) and borrow cost is 0 because from_signals has neither a bar-count time stop
nor a borrow fee. vectorbt's numba compilation is warmed up outside the timed region, and
TITAN gets an equal untimed warm-up.

Prints one JSON object on its last line: backtests per second of each, their ratio, the
largest |PnL difference| per combination (capital 1.0) and whether trade counts agree.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.backtest.engine import Costs, ParamGrid, run_grid
from services.backtest.engine.spreads import compute_spread_series

DATA = Path(__file__).resolve().parents[1] / "services" / "market_data" / "data"
GRID = ParamGrid(
    entry_z=np.round(np.linspace(1.0, 3.25, 10), 6),
    exit_z=[-0.25, 0.0, 0.25, 0.5, 0.75],
    stop_z=[3.5, 4.0, 5.0, 6.0],
    lookback=[20, 40, 60, 90, 120],
)
COSTS = Costs(commission_bps=1.0, slippage_bps=2.0)
CAPITAL = 1.0


def vectorbt_sweep(
    vbt: Any, a: np.ndarray, b: np.ndarray, grid: ParamGrid
) -> tuple[np.ndarray, np.ndarray]:
    """Trade counts and total PnL per combination, simulated by vectorbt."""
    combos = grid.combinations()
    spreads = compute_spread_series(a, b, np.unique(combos["lookback"]), hedge="ols")
    if spreads.hedge_ratio[0, 0] < 0:
        raise SystemExit("negative hedge ratio: leg B would trade with A; not modelled here")
    z = spreads.z_score[:, np.searchsorted(spreads.lookbacks, combos["lookback"])]
    entry, exit_z, stop = combos["entry_z"], combos["exit_z"], combos["stop_z"]
    long_entry = (z <= -entry) & (z > -stop)
    long_exit = (z >= -exit_z) | (z <= -stop)
    short_entry = (z >= entry) & (z < stop)
    short_exit = (z <= exit_z) | (z >= stop)
    n_bars, n_combos = z.shape

    def legs(for_a: np.ndarray, for_b: np.ndarray) -> np.ndarray:
        """Interleave (T, C) arrays into columns A0, B0, A1, B1, ... shifted one bar."""
        both = np.zeros((n_bars, n_combos, 2), dtype=for_a.dtype)
        both[1:, :, 0], both[1:, :, 1] = for_a[:-1], for_b[:-1]
        return both.reshape(n_bars, 2 * n_combos)

    close = np.empty((n_bars, n_combos, 2))
    close[:, :, 0], close[:, :, 1] = a[:, None], b[:, None]
    portfolio = vbt.Portfolio.from_signals(
        close.reshape(n_bars, 2 * n_combos),
        entries=legs(long_entry, short_entry),
        exits=legs(long_exit, short_exit),
        short_entries=legs(short_entry, long_entry),
        short_exits=legs(short_exit, long_exit),
        size=0.5 * CAPITAL,
        size_type="value",
        fees=COSTS.trade_rate,
        init_cash=100.0 * CAPITAL,  # ample: cash never limits an order
        cash_sharing=True,
        group_by=np.repeat(np.arange(n_combos), 2),
        upon_opposite_entry="close",
        freq="1D",
    )
    counts = np.asarray(portfolio.get_trades(group_by=False).count())[::2]
    return counts.astype(np.int64), np.atleast_1d(np.asarray(portfolio.total_profit()))


def best_time(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", nargs=2, default=["KO", "PEP"], metavar=("A", "B"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = DATA / "sp500_20stocks_daily_1990_2022.csv.gz"
    if not path.exists():
        raise SystemExit(f"price file not found: {path}")
    frame = pd.read_csv(path, parse_dates=["Date"])
    missing = [s for s in args.pair if s not in frame.columns]
    if missing:
        raise SystemExit(f"unknown symbols {missing}; have {list(frame.columns[1:])}")
    a, b = (frame[s].to_numpy(np.float64) for s in args.pair)
    times = frame["Date"].to_numpy()
    n_combos = len(GRID)

    def titan() -> Any:
        return run_grid(a, b, times, GRID, COSTS, capital=CAPITAL)

    warm_grid = ParamGrid([2.0], [0.5], [4.0], [20])
    run_grid(a[:300], b[:300], times[:300], warm_grid, COSTS)
    titan_s, result = best_time(titan, args.repeats)
    report: dict[str, Any] = {"pair": "~".join(args.pair), "bars": len(a), "combinations": n_combos}
    try:
        import vectorbt as vbt
    except Exception as exc:  # report the exact import failure
        report |= {"titan_backtests_per_s": n_combos / titan_s, "vectorbt_error": repr(exc)}
        print(json.dumps(report))
        return
    vectorbt_sweep(vbt, a[:300], b[:300], warm_grid)  # numba compilation, untimed
    vbt_s, (vbt_counts, vbt_pnl) = best_time(lambda: vectorbt_sweep(vbt, a, b, GRID), args.repeats)
    counts_equal = bool(np.array_equal(result.trade_counts, vbt_counts))
    max_diff = float(np.max(np.abs(result.pnl - vbt_pnl)))
    report |= {
        "vectorbt_version": vbt.__version__,
        "titan_seconds": titan_s,
        "vectorbt_seconds": vbt_s,
        "trades_total": int(result.trade_counts.sum()),
        "trade_counts_equal": counts_equal,
    }
    print(json.dumps(report))
    print(
        json.dumps(
            {
                "titan_backtests_per_s": n_combos / titan_s,
                "vectorbt_backtests_per_s": n_combos / vbt_s,
                "ratio": vbt_s / titan_s,
                "max_pnl_diff": max_diff,
            }
        )
    )
    if not counts_equal or max_diff > 1e-9:
        raise SystemExit("parity failed: trade counts or PnL differ between TITAN and vectorbt")


if __name__ == "__main__":
    main()
