"""Portfolio backtest of every pair the demo activates: TITAN's book against pandas.

    python bench/portfolio.py [--file NAME] [--symbols A,B,...] [--repeats N]

Inputs: the demo's offline pipeline (titan/offline.py's stages with `titan demo`'s
environment) over the bundled S&P file, 1990-2022: its daily closes, the signals of every
pair it activates and the pairs' lifecycle. Computing them is untimed.

Timed, in the same run, on the same inputs and rules ("equal" allocation under the 2x
leverage cap, the demo's costs: 1 bps commission, 2 bps slippage, 50 bps a year borrow; no
risk limit binds, which the run checks, since the pandas statement does not model them):
- TITAN: `run_portfolio_backtest`, the live service's PortfolioBook driven bar by bar
  (netting, fills at the next close, marks and per-pair PnL every bar);
- pandas: the same allocation computed pair by pair with pandas (tests/unit/portfolio/
  reference.py: each pair's target shares, then whole-frame holdings, costs and PnL).
The run fails unless the equity curves agree to 1e-9 (relative) and the fills match.

Prints one JSON object on its last line: bars per second of each, their ratio
(titan / pandas), bars, pairs, orders, netted legs and the portfolio metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.portfolio import Costs, LegWeight, PairSignal, PortfolioConfig, run_portfolio_backtest
from tests.unit.portfolio.reference import pandas_portfolio

DATA = Path(__file__).resolve().parents[1] / "services" / "market_data" / "data"
CONFIG = PortfolioConfig(
    capital=1_000_000.0,
    allocation="equal",
    gross_leverage_cap=2.0,
    max_gross_exposure=1e6,  # never binds: the pandas statement has no limits
    costs=Costs(commission_bps=1.0, slippage_bps=2.0, borrow_bps_annual=50.0),
)


async def pipeline_events(path: Path, symbols: list[str] | None) -> dict[str, list[Any]]:
    from services.market_data.feeds.replay import replay_ticks
    from titan.commands.demo import DEMO_ENV
    from titan.offline import market_data_stage, pairs_stage, regime_stage, signals_stage

    env = dict(DEMO_ENV)
    ticks = replay_ticks(path, symbols=symbols)
    events: dict[str, list[Any]] = {"market.bars.v1": market_data_stage(ticks, env)}
    events.update(pairs_stage(events["market.bars.v1"], env))
    events["regime.shifts.v1"] = await regime_stage(
        events["market.bars.v1"], events["pairs.spreads.v1"], env
    )
    events["params.v1"] = []
    events["signals.v1"] = await signals_stage(events, env)
    return events


def book_inputs(
    events: dict[str, list[Any]],
) -> tuple[pd.DataFrame, list[PairSignal], list[tuple[str, str, datetime]]]:
    latest: dict[tuple[str, datetime], tuple[int, float]] = {}
    for e in events["market.bars.v1"]:
        bar = e.payload
        key = (bar.symbol, bar.start)
        if bar.interval == "1d" and (key not in latest or latest[key][0] <= bar.revision):
            latest[key] = (bar.revision, bar.close)
    rows = [(start, symbol, close) for (symbol, start), (_r, close) in latest.items()]
    frame = pd.DataFrame(rows, columns=["start", "symbol", "close"])
    closes = frame.pivot(index="start", columns="symbol", values="close").sort_index()
    signals: dict[str, PairSignal] = {}
    for e in events["signals.v1"]:
        p = e.payload
        legs = tuple(LegWeight(leg.symbol, leg.side, leg.weight) for leg in p.legs)
        signals.setdefault(
            p.signal_id,
            PairSignal(p.signal_id, p.pair_id, p.action, p.bar_time, p.hedge_ratio, legs),
        )
    lifecycle = sorted(
        (
            (e.payload.pair_id, e.payload.to_state, e.payload.as_of)
            for e in events["pairs.lifecycle.v1"]
        ),
        key=lambda c: (c[2], c[0]),
    )
    ordered = sorted(signals.values(), key=lambda s: (s.bar_time, s.signal_id))
    return closes, ordered, lifecycle


def fills_agree(book: list[Any], reference: pd.DataFrame) -> bool:
    """Same (time, symbol) fills with the same signed quantity, price and cost; pandas sums
    the pairs' shares, so a change that nets to zero there can leave a ~1e-13 share fill."""
    reference = reference[reference["quantity"].abs() > 1e-9]
    reference = reference.sort_values(["time", "symbol"], ignore_index=True)
    ours = sorted(book, key=lambda f: (f.filled_at, f.symbol))
    if len(ours) != len(reference):
        return False
    keys = [(pd.Timestamp(f.filled_at), f.symbol) for f in ours]
    if keys != list(zip(pd.to_datetime(reference["time"]), reference["symbol"], strict=True)):
        return False
    values = np.array([(f.quantity if f.side == "buy" else -f.quantity, f.price, f.cost)
                       for f in ours]).reshape(-1, 3)  # fmt: skip
    expected = reference[["quantity", "price", "cost"]].to_numpy()
    return bool(np.allclose(values, expected, rtol=1e-9, atol=1e-9))


def best_time(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="sp500_20stocks_daily_1990_2022.csv.gz")
    parser.add_argument("--symbols", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    path = DATA / args.file
    if not path.exists():
        raise SystemExit(f"price file not found: {path}")
    symbols = [s.strip().upper() for s in args.symbols.split(",")] if args.symbols else None
    started = time.perf_counter()
    closes, signals, lifecycle = book_inputs(asyncio.run(pipeline_events(path, symbols)))
    pipeline_s = time.perf_counter() - started
    activated = sorted({c[0] for c in lifecycle if c[1] == "active"})
    if not signals:
        raise SystemExit("the pipeline emitted no signals: nothing to trade")

    def titan() -> Any:
        return run_portfolio_backtest(CONFIG, closes, signals, lifecycle)

    def reference() -> Any:
        return pandas_portfolio(CONFIG, closes, signals, lifecycle)

    titan_s, book = best_time(titan, args.repeats)
    pandas_s, oracle = best_time(reference, args.repeats)
    rejected = sum(len(o.rejections) for o in book.outcomes)
    gap = float(np.max(np.abs(book.equity.to_numpy() / oracle.equity.to_numpy() - 1.0)))
    same_fills = fills_agree(book.fills, oracle.fills)
    n_bars = len(closes)
    print(json.dumps({"pipeline_s": round(pipeline_s, 1), "signals": len(signals),
                      "rejections": rejected, "fills": len(book.fills),
                      "fills_agree": same_fills}))  # fmt: skip
    print(
        json.dumps(
            {
                "titan_bars_per_s": n_bars / titan_s,
                "pandas_bars_per_s": n_bars / pandas_s,
                "ratio": pandas_s / titan_s,
                "bars": n_bars,
                "pairs_activated": len(activated),
                "pairs_traded": int(book.pair_pnl.shape[1]),
                "orders": len(book.orders),
                "netted_legs": book.netted_legs,
                "total_return": book.total_return,
                "sharpe": book.sharpe,
                "max_drawdown": book.max_drawdown,
                "max_equity_rel_diff": gap,
            }
        )
    )
    if rejected or gap > 1e-9 or not same_fills:
        raise SystemExit("parity failed: the book and the pandas statement differ")


if __name__ == "__main__":
    main()
