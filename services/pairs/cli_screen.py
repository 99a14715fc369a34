"""``titan pairs screen PRICES.csv [--prices log|raw] [--window N] [--autolag ...] [--maxlag K] --json``

Reads a wide price file (.csv or .csv.gz; first column the date, then one column per symbol),
screens every pair with the Engle-Granger engine and prints one JSON object per pair and line
(sorted by p-value). Non-finite numbers (e.g. an infinite half-life) are printed as null.
Rows with a missing price in any column are dropped (reported on stderr). Pairs are tested on
log prices by default (`--prices raw` tests the prices themselves); which one was used is
printed on stderr, since the hedge ratios of the two are not comparable.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from core.cointegration import Autolag, PairScreenResult, screen_universe

MIN_ROWS = 20
JSON_KEYS = (
    "a",
    "b",
    "hedge_ratio",
    "adf_stat",
    "pvalue",
    "lag",
    "half_life",
    "hurst",
    "pvalue_adjusted",
)


class ScreenInputError(ValueError):
    """The price file cannot be screened; the message says why."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise ScreenInputError(f"{self.prog}: {message}")


def _parser() -> _ArgumentParser:
    p = _ArgumentParser(prog="titan pairs screen", description="Engle-Granger pairs screen")
    p.add_argument("prices", help="wide CSV (.csv or .csv.gz): date column, then one per symbol")
    p.add_argument(
        "--prices",
        dest="price_scale",
        choices=("log", "raw"),
        default="log",
        help="test log prices (default) or the raw prices",
    )
    p.add_argument("--window", type=int, default=None, help="use only the last N bars")
    p.add_argument("--autolag", choices=("aic", "bic", "t-stat", "none"), default="aic")
    p.add_argument("--maxlag", type=int, default=None, help="ADF max lag (default statsmodels')")
    p.add_argument("--json", action="store_true", help="one JSON object per pair per line")
    return p


def load_wide_prices(path: Path, *, log_prices: bool = True) -> tuple[np.ndarray, list[str]]:
    """Price matrix (T, N) and symbol names of a wide CSV; raises ScreenInputError."""
    if not path.is_file():
        raise ScreenInputError(f"price file not found: {path}")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ScreenInputError(f"cannot read {path}: {exc}") from exc
    if frame.shape[1] < 3:
        raise ScreenInputError(f"{path}: need a date column and at least 2 symbol columns")
    prices = frame.iloc[:, 1:]
    bad = [str(c) for c in prices.columns if not pd.api.types.is_numeric_dtype(prices[c])]
    if bad:
        raise ScreenInputError(f"{path}: non-numeric price columns: {', '.join(bad)}")
    complete = prices.dropna(axis=0, how="any")
    dropped = len(prices) - len(complete)
    if dropped:
        print(f"warning: dropped {dropped} rows with missing prices", file=sys.stderr)
    if len(complete) < MIN_ROWS:
        raise ScreenInputError(
            f"{path}: {len(complete)} complete rows, at least {MIN_ROWS} are needed"
        )
    values = complete.to_numpy(dtype=np.float64)
    if log_prices and np.any(values <= 0.0):
        raise ScreenInputError(
            f"{path}: prices must be strictly positive for --prices log (use --prices raw)"
        )
    if not np.all(np.isfinite(values)):
        raise ScreenInputError(f"{path}: prices must be finite numbers")
    return values, [str(c) for c in complete.columns]


def _json_number(v: float | int) -> float | int | None:
    return v if isinstance(v, int) or math.isfinite(v) else None


def _write(results: Sequence[PairScreenResult], as_json: bool, out: TextIO) -> None:
    for r in results:
        if as_json:
            record = {k: getattr(r, k) for k in JSON_KEYS}
            clean = {k: v if isinstance(v, str) else _json_number(v) for k, v in record.items()}
            out.write(json.dumps(clean) + "\n")
        else:
            out.write(
                f"{r.a:>8} {r.b:>8} beta={r.hedge_ratio:9.4f} adf={r.adf_stat:8.3f} "
                f"p={r.pvalue:.4f} p_bh={r.pvalue_adjusted:.4f} lag={r.lag:2d} "
                f"half_life={r.half_life:8.1f} hurst={r.hurst:.3f}\n"
            )


def run_screen(argv: list[str], out: TextIO | None = None) -> int:
    """Entry point for ``titan pairs screen``; returns the process exit code."""
    stream = sys.stdout if out is None else out
    try:
        args = _parser().parse_args(argv)
        if args.window is not None and args.window < MIN_ROWS:
            raise ScreenInputError(f"--window must be >= {MIN_ROWS}, got {args.window}")
        if args.maxlag is not None and args.maxlag < 0:
            raise ScreenInputError(f"--maxlag must be >= 0, got {args.maxlag}")
        log_prices = args.price_scale == "log"
        prices, symbols = load_wide_prices(Path(args.prices), log_prices=log_prices)
        if args.window is not None and args.window > prices.shape[0]:
            raise ScreenInputError(f"--window {args.window} exceeds the {prices.shape[0]} rows")
        autolag: Autolag = None if args.autolag == "none" else args.autolag
        results = screen_universe(
            prices, symbols, args.window, autolag, args.maxlag, log_prices=log_prices
        )
        print(f"screened {len(symbols)} symbols on {args.price_scale} prices", file=sys.stderr)
    except (ScreenInputError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _write(results, args.json, stream)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_screen(sys.argv[1:]))
