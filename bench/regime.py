"""Online Hamilton update vs a statsmodels refit on the same window, plus a 10-year fit.

Data: S&P 500 index daily log returns (percent), /work/shared/data (skfolio, BSD-3-Clause).
Last line: {"online_update_us", "refit_ms", "ratio", "fit_10y_s"}.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from services.regime.models import (
    OnlineHamiltonFilter,
    RegimeModelSpec,
    fit_regime_model,
    log_returns_percent,
)

WINDOW_BARS = 2520  # ten years of daily bars
UPDATES = 20_000
REFITS = 3


def _sp500_prices() -> np.ndarray:
    path = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    with gzip.open(path / "sp500_index_daily_1990_2022.csv.gz", "rt") as handle:
        rows = handle.read().splitlines()[1:]
    return np.array([float(line.split(",")[1]) for line in rows])


def main() -> int:
    returns = log_returns_percent(_sp500_prices())
    window = returns[-WINDOW_BARS:]
    spec = RegimeModelSpec(k_regimes=2, switching_variance=True)

    started = time.perf_counter()
    model = fit_regime_model(window, spec)
    fit_10y_s = time.perf_counter() - started

    refit_times = []
    for _ in range(REFITS):
        started = time.perf_counter()
        fit_regime_model(window, spec)
        refit_times.append(time.perf_counter() - started)
    refit_ms = 1000.0 * float(np.median(refit_times))

    online = OnlineHamiltonFilter(model)
    online.run(window)  # warm state as the service would hold it
    feed = np.resize(returns, UPDATES)
    started = time.perf_counter()
    for value in feed:
        online.update(value)
    online_update_us = 1e6 * (time.perf_counter() - started) / UPDATES

    ratio = refit_ms * 1000.0 / online_update_us
    print(f"window {WINDOW_BARS} bars, {UPDATES} online updates, {REFITS} refits", file=sys.stderr)
    print(
        json.dumps(
            {
                "online_update_us": round(online_update_us, 3),
                "refit_ms": round(refit_ms, 2),
                "ratio": round(ratio, 1),
                "fit_10y_s": round(fit_10y_s, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
