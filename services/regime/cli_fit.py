"""`titan regime fit FILE.csv --column NAME [...] --json`: fit a regime model to one column.

Entry point: `run_fit(argv)` with argv *after* `titan regime fit`. Prints one JSON object
(with --json) or a short summary; returns 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from core.regime import (
    FittedRegimeModel,
    OnlineHamiltonFilter,
    RegimeModelSpec,
    RegimeScope,
    ShiftDetectorSettings,
    detect_shifts,
    fit_regime_model,
    log_returns_percent,
    regime_names,
)

FloatArray = NDArray[np.float64]

EXIT_BAD_INPUT = 2


class CliError(Exception):
    """A user error: reported on stderr with a non-zero exit status."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message}")


def _parser() -> _Parser:
    parser = _Parser(prog="titan regime fit", description="Fit a Markov-switching regime model.")
    parser.add_argument("file", help="CSV file (.csv or .csv.gz)")
    parser.add_argument("--column", required=True, help="numeric column to fit")
    parser.add_argument("--returns", action="store_true", help="fit 100*diff(log(column))")
    parser.add_argument("--k-regimes", type=int, default=2)
    parser.add_argument("--switching-variance", action="store_true")
    parser.add_argument("--order", type=int, default=0, help="autoregressive order p")
    parser.add_argument("--date-column", default=None)
    parser.add_argument("--threshold", type=float, default=0.8, help="shift probability")
    parser.add_argument("--min-bars", type=int, default=3, help="bars above threshold")
    parser.add_argument("--search-reps", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _read_column(path: Path, column: str, date_column: str | None) -> tuple[FloatArray, list[str]]:
    if not path.is_file():
        raise CliError(f"file not found: {path}")
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CliError(f"cannot read {path} as CSV: {exc}") from exc
    for name in [column, date_column]:
        if name is not None and name not in frame.columns:
            raise CliError(f"column {name!r} not in {path.name}; columns: {list(frame.columns)}")
    raw = frame[column]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero(numeric.isna().to_numpy() | ~np.isfinite(numeric.to_numpy(float)))
    if bad.size:
        row = int(bad[0])
        raise CliError(
            f"column {column!r} is not numeric at row {row} (value {raw.iloc[row]!r}); "
            f"{bad.size} bad row(s)"
        )
    dates = [str(d) for d in frame[date_column]] if date_column else []
    return numeric.to_numpy(dtype=np.float64), dates


def _spec(args: argparse.Namespace) -> RegimeModelSpec:
    try:
        return RegimeModelSpec(
            k_regimes=args.k_regimes,
            order=args.order,
            switching_mean=True,
            switching_variance=args.switching_variance,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc


def _fit(args: argparse.Namespace) -> dict[str, Any]:
    values, dates = _read_column(Path(args.file), args.column, args.date_column)
    try:
        settings = ShiftDetectorSettings(threshold=args.threshold, min_bars=args.min_bars)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    if args.search_reps < 0:
        raise CliError("--search-reps must be >= 0")
    spec = _spec(args)
    offset = 0
    if args.returns:
        if values.size and np.any(values <= 0):
            row = int(np.flatnonzero(values <= 0)[0])
            raise CliError(f"--returns needs positive values; row {row} is {values[row]}")
        if values.size < 2:
            raise CliError(f"too few rows: {values.size}")
        values, offset = log_returns_percent(values), 1
    try:
        model = fit_regime_model(values, spec, search_reps=args.search_reps)
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    probabilities = OnlineHamiltonFilter(model).run(values)
    payload = _payload(model, probabilities, offset, dates, settings)
    payload["warnings"] = fit_warnings(model, args.switching_variance)
    return payload


# Rows of the transition matrix closer than this: the next regime does not depend on the
# current one, so "regimes" are a mixture drawn afresh every bar, not states that persist.
PERSISTENCE_TOLERANCE = 0.05


def fit_warnings(model: FittedRegimeModel, switching_variance: bool) -> list[str]:
    """What makes a converged fit useless as a regime model, said in words."""
    transition = model.transition_matrix
    spread = float(np.max(np.ptp(transition, axis=0)))
    if spread >= PERSISTENCE_TOLERANCE:
        return []
    rows = ", ".join(f"p[{i}->0]={transition[i, 0]:.4f}" for i in range(model.k_regimes))
    advice = (
        "returns usually switch in variance, not in mean: try --switching-variance"
        if not switching_variance
        else "try another --k-regimes or --order, or fit a different column"
    )
    return [
        f"degenerate fit: the transition rows are equal ({rows}), so regimes do not "
        f"persist from one bar to the next and no shift can be detected; {advice}"
    ]


def _payload(
    model: FittedRegimeModel,
    probabilities: FloatArray,
    offset: int,
    dates: list[str],
    settings: ShiftDetectorSettings,
) -> dict[str, Any]:
    undefined = [None] * offset
    prob_rows: list[list[float] | None] = list(undefined)
    regime: list[int | None] = list(undefined)
    for row in probabilities:
        defined = not np.isnan(row).any()
        prob_rows.append([float(x) for x in row] if defined else None)
        regime.append(int(np.argmax(row)) if defined else None)
    shifts = [
        {
            "row": s.bar + offset,
            "date": dates[s.bar + offset] if dates else None,
            "from": s.from_regime,
            "to": s.to_regime,
            "probability": s.probability,
        }
        for s in detect_shifts(probabilities, settings)
    ]
    return {
        "model": model.to_dict(),
        "version": model.version,
        "llf": model.llf,
        "nobs": model.nobs,
        "params": model.params,
        "regime_names": list(regime_names(RegimeScope.MARKET, model.spec)),
        "regime": regime,
        "probabilities": prob_rows,
        "shifts": shifts,
        "shift_settings": {"threshold": settings.threshold, "min_bars": settings.min_bars},
    }


def _summary(payload: dict[str, Any]) -> str:
    params = ", ".join(f"{n}={v:.6g}" for n, v in payload["params"].items())
    lines = [
        f"model {payload['version']}  llf {payload['llf']:.5f}  nobs {payload['nobs']}",
        f"params: {params}",
        f"shifts: {len(payload['shifts'])}",
    ]
    lines += [
        f"  row {s['row']} {s['date'] or ''} {s['from']} -> {s['to']}" for s in payload["shifts"]
    ]
    return "\n".join(lines)


def run_fit(argv: list[str]) -> int:
    try:
        args = _parser().parse_args(argv)
        payload = _fit(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for warning in payload["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        if not all(math.isfinite(v) for v in payload["params"].values()):
            print("error: fit produced non-finite parameters", file=sys.stderr)
            return 1
        print(json.dumps(payload, allow_nan=False))
    else:
        print(_summary(payload))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_fit(sys.argv[1:]))
