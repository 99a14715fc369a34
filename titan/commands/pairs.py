"""`titan pairs screen|test`: screen a price file, or test one pair on market_data history.

`titan pairs test A B --start 2000-01-01 --end 2013-01-01 [--interval 1d] [--json]` fetches
the closes from the market_data history API (TITAN_MARKET_DATA_URL, else the local run
registry) and runs the Engle-Granger engine on the bar times both symbols have.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, time

EXIT_ERROR = 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("pairs", help="pairs screening and cointegration tests")
    cmds = parser.add_subparsers(dest="pairs_command", metavar="SUBCOMMAND", required=True)

    screen = cmds.add_parser(
        "screen", help="screen every pair of a wide price file", add_help=False
    )
    screen.add_argument("argv", nargs=argparse.REMAINDER, help="arguments of the screen")
    screen.set_defaults(func=_screen)

    test = cmds.add_parser("test", help="Engle-Granger test of two symbols on stored history")
    test.add_argument("a", help="first symbol")
    test.add_argument("b", help="second symbol")
    test.add_argument("--start", required=True, help="ISO date, inclusive")
    test.add_argument("--end", required=True, help="ISO date, inclusive")
    test.add_argument("--interval", choices=("1m", "1h", "1d"), default="1d")
    test.add_argument("--json", action="store_true", help="print one JSON object")
    test.set_defaults(func=_test)


def _screen(args: argparse.Namespace) -> int:
    try:
        from services.pairs.cli_screen import run_screen
    except ImportError as exc:
        print(f"titan pairs screen: not available ({exc})", file=sys.stderr)
        return EXIT_ERROR
    return run_screen(list(args.argv))


def _when(name: str, value: str) -> datetime:
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--{name} {value!r} is not an ISO date (YYYY-MM-DD)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _test(args: argparse.Namespace) -> int:
    from services.pairs.domain.adhoc import PairTestInputError, run_pair_test

    try:
        start, end = _when("start", args.start), _when("end", args.end)
        if start >= end:
            raise ValueError(f"--start {args.start} must be before --end {args.end}")
        a, b = args.a.upper(), args.b.upper()
        series = asyncio.run(_fetch([a, b], args.interval, start, end))
        report = run_pair_test(a, b, series[a], series[b])
    except (ValueError, PairTestInputError, RuntimeError) as exc:
        print(f"titan pairs test: {exc}", file=sys.stderr)
        return EXIT_ERROR
    data = report.as_json()
    if args.json:
        print(json.dumps(data))
    else:
        verdict = "cointegrated at 5 %" if data["cointegrated_5pct"] else "not cointegrated at 5 %"
        print(
            f"{data['pair_id']}: ADF {report.adf_stat:.4f}, p-value {report.pvalue:.4g} "
            f"({verdict}); hedge ratio {report.hedge_ratio:.4f}, half-life "
            f"{report.half_life if report.half_life is not None else 'inf'} bars, "
            f"{report.n_obs} bars {report.start.date()}..{report.end.date()}"
        )
    return 0


async def _fetch(
    symbols: list[str], interval: str, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Closes per symbol; RuntimeError (HistoryUnavailable) when the service cannot answer,
    ValueError when a symbol has no history in the range."""
    import pandas as pd

    from shared.clients.market_data import HistoryClient

    wide = await HistoryClient(base_url=None).closes(symbols, interval, start, end)
    out: dict[str, list[tuple[datetime, float]]] = {}
    for s in symbols:
        if s not in wide.columns or wide[s].dropna().empty:
            raise ValueError(
                f"no {interval} history for {s} between {start.date()} and {end.date()}"
            )
        col = wide[s].dropna()
        stamps = pd.DatetimeIndex(col.index)
        out[s] = [
            (ts.to_pydatetime(), float(v)) for ts, v in zip(stamps, col.to_numpy(), strict=True)
        ]
    return out
