"""`titan backtest A B ...` and `titan walk-forward A B ...`: run locally, in this process.

History comes from the market_data history API (TITAN_MARKET_DATA_URL or the local run
registry) or, with --file, from a price file (wide: date column then one column per symbol;
or long: Ticker, Date, <price column>), which needs no running service. Exit codes: 0 done,
2 bad flags or request, 1 no data or an unreachable service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from services.backtest.domain.compute import JobResult

BAD_INPUT = 2
NO_DATA = 1
SHOWN_METRICS = (
    "sharpe",
    "sortino",
    "total_return",
    "cagr",
    "annual_volatility",
    "max_drawdown",
    "calmar",
    "win_rate",
    "n_trades",
    "exposure",
    "deflated_sharpe",
    "in_sample_sharpe",
    "out_of_sample_sharpe",
    "n_trials",
    "n_splits",
)


class CliError(Exception):
    def __init__(self, message: str, code: int = BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", help="dependent symbol, e.g. MSFT")
    parser.add_argument("b", help="hedge symbol, e.g. IBM")
    parser.add_argument("--start", default=None, help="ISO date/time, inclusive")
    parser.add_argument("--end", default=None, help="ISO date/time, exclusive")
    parser.add_argument("--interval", default="1d")
    parser.add_argument(
        "--grid", nargs="*", default=[], metavar="NAME=V1,V2", help="e.g. entry_z=1.5,2,2.5"
    )
    parser.add_argument(
        "--costs", nargs="*", default=[], metavar="NAME=V", help="e.g. commission_bps=1"
    )
    parser.add_argument("--file", default=None, help="price CSV(.gz), wide or long layout")
    parser.add_argument("--price-column", default="Adj Close", help="long layout price column")
    parser.add_argument("--fill", choices=("next_close", "same_close"), default="next_close")
    parser.add_argument("--hedge", choices=("ols", "rolling"), default="rolling")
    parser.add_argument("--sizing", choices=("dollar_neutral", "beta_neutral"))
    parser.add_argument("--objective", default="sharpe")
    parser.add_argument("--report", default=None, metavar="FILE.html", help="write HTML report")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    bt = sub.add_parser("backtest", help="backtest a pair over a parameter grid (local)")
    _common(bt)
    bt.set_defaults(func=_main, kind="backtest")
    wf = sub.add_parser("walk-forward", help="walk-forward tune a pair per regime (local)")
    _common(wf)
    wf.add_argument("--train-bars", type=int, default=504)
    wf.add_argument("--test-bars", type=int, default=126)
    wf.add_argument("--step", type=int, default=None)
    wf.add_argument("--mode", choices=("rolling", "expanding"), default="rolling")
    wf.add_argument("--regimes", choices=("none", "market", "pair_spread"), default="pair_spread")
    wf.add_argument("--min-oos-sharpe", type=float, default=None)
    wf.add_argument("--min-deflated-sharpe", type=float, default=None)
    wf.set_defaults(func=_main, kind="walk_forward")


def _pairs(values: Sequence[str], flag: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        if not sep or not name or not raw:
            raise CliError(f"{flag} {item!r}: expected NAME=VALUE[,VALUE...]")
        try:
            out[name] = [float(v) for v in raw.split(",") if v.strip()]
        except ValueError as exc:
            raise CliError(f"{flag} {item!r}: values must be numbers") from exc
    return out


def _costs(values: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, numbers in _pairs(values, "--costs").items():
        if len(numbers) != 1:
            raise CliError(f"--costs {name}: give exactly one value, got {numbers}")
        out[name] = numbers[0]
    return out


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"fill": args.fill, "hedge": args.hedge, "objective": args.objective}
    if args.sizing:
        options["sizing"] = args.sizing
    if args.kind == "walk_forward":
        options.update(
            train_bars=args.train_bars,
            test_bars=args.test_bars,
            mode=args.mode,
            regimes=args.regimes,
        )
        if args.step is not None:
            options["step"] = args.step
        if args.min_oos_sharpe is not None:
            options["min_oos_sharpe"] = args.min_oos_sharpe
        if args.min_deflated_sharpe is not None:
            options["min_deflated_sharpe"] = args.min_deflated_sharpe
    return options


def read_price_file(path: Path, symbols: Sequence[str], price_column: str) -> pd.DataFrame:
    """Wide closes (index = bar time UTC, one column per symbol) from a wide or long file."""
    from services.market_data.feeds.replay import ReplayError, read_prices

    try:
        long = read_prices(path, "auto", price_column, symbols)
    except ReplayError as exc:
        raise CliError(str(exc), NO_DATA if "no such file" in str(exc) else BAD_INPUT) from exc
    wide = long.pivot_table(index="date", columns="symbol", values="price", aggfunc="last")
    return wide.sort_index()


async def _fetch(symbols: list[str], interval: str, start: Any, end: Any) -> pd.DataFrame:
    from shared.clients.market_data import HistoryClient, HistoryUnavailable

    try:
        return await HistoryClient().closes(symbols, interval, start, end)
    except HistoryUnavailable as exc:
        raise CliError(str(exc), NO_DATA) from exc


class ProgressBar:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = -1

    def __call__(self, fraction: float) -> None:
        percent = int(100 * min(max(fraction, 0.0), 1.0))
        if not self.enabled or percent == self.shown:
            return
        self.shown = percent
        filled = percent * 30 // 100
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:3d} %")
        sys.stderr.flush()
        if percent == 100:
            sys.stderr.write("\n")


def _table(result: JobResult) -> str:
    from services.backtest.report import format_metric

    lines = [f"{result.pair_id} {result.kind}  {result.data_start[:10]} .. {result.data_end[:10]}"]
    lines.append(f"  combinations {result.n_combinations}   trades {result.n_trades}")
    for name in SHOWN_METRICS:
        value = result.metrics.get(name)
        if isinstance(value, int | float):
            lines.append(f"  {name:<22} {format_metric(name, float(value))}")
    lines.append(f"  best params            {json.dumps(result.best_params)}")
    if result.kind == "walk_forward":
        if result.publications:
            for p in result.publications:
                lines.append(f"  PUBLISH regime {p.regime}: {p.version} {json.dumps(p.params)}")
        else:
            lines.append("  not published:")
            lines.extend(f"    - {r}" for r in result.publication_reasons)
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.backtest.domain.compute import NoHistory, run_job
    from services.backtest.domain.requests import RequestInvalid, parse_request
    from shared.events import BacktestRequested

    try:
        request = BacktestRequested(
            request_id=f"cli-{args.a}-{args.b}",
            kind=args.kind,
            a=args.a.upper(),
            b=args.b.upper(),
            start=args.start,
            end=args.end,
            interval=args.interval,
            grid=_pairs(args.grid, "--grid"),
            costs=_costs(args.costs),
            options=_options(args),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise CliError(f"--{first['loc'][0]}: {first['msg']}") from exc
    try:
        spec = parse_request(request)
    except RequestInvalid as exc:
        raise CliError(str(exc)) from exc
    symbols = [spec.a, spec.b]
    if args.file:
        closes = read_price_file(Path(args.file), symbols, args.price_column)
        if spec.start is not None:
            closes = closes[closes.index >= spec.start]
        if spec.end is not None:
            closes = closes[closes.index < spec.end]
    else:
        closes = asyncio.run(_fetch(symbols, spec.interval, spec.start, spec.end))
    bar = ProgressBar(sys.stderr.isatty() or not args.json)
    try:
        result = run_job(spec, closes, bar)
    except NoHistory as exc:
        raise CliError(str(exc), NO_DATA) from exc
    if args.report:
        Path(args.report).write_text(result.report_html, encoding="utf-8")
    if args.json:
        print(
            json.dumps(
                {
                    "pair_id": result.pair_id,
                    "kind": result.kind,
                    "data_start": result.data_start,
                    "data_end": result.data_end,
                    "n_combinations": result.n_combinations,
                    "n_trades": result.n_trades,
                    "n_trials": result.n_trials,
                    "metrics": result.metrics,
                    "best_params": result.best_params,
                    "published": [
                        {"regime": p.regime, "version": p.version, "params": p.params}
                        for p in result.publications
                    ],
                    "publication_reasons": result.publication_reasons,
                }
            )
        )
    else:
        print(_table(result))
    return 0


def _main(args: argparse.Namespace) -> int:
    name = "backtest" if args.kind == "backtest" else "walk-forward"
    try:
        return _run(args)
    except CliError as exc:
        print(f"titan {name}: {exc}", file=sys.stderr)
        return exc.code
