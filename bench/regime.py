"""Online Hamilton update vs a statsmodels refit on the same window, plus a 10-year fit.

Data: S&P 500 index daily log returns (percent), services/market_data/data (skfolio, BSD-3-Clause).
Also the service's scheduled refit (a 756-bar window every 63 bars over the whole series,
each fit warm-started from the previous one): statsmodels' fit from the previous parameters
(the baseline) against `fit_regime_model` with the previous curvature as well, and how the
two chains' log-likelihoods compare window by window.
Last line: {"online_update_us", "refit_ms", "ratio", "fit_10y_s", "warm_refit_ms",
"warm_refit_statsmodels_ms", "warm_refit_speedup", "warm_llf_better", "warm_llf_worse"}.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from core.regime import (
    OnlineHamiltonFilter,
    RegimeModelSpec,
    fit_regime_model,
    log_returns_percent,
)

WINDOW_BARS = 2520  # ten years of daily bars
UPDATES = 20_000
REFITS = 3
SCHEDULE_WINDOW, SCHEDULE_EVERY = 756, 63


def _sp500_prices() -> np.ndarray:
    from services.market_data.data import bundled_file

    path = bundled_file("sp500_index_daily_1990_2022.csv.gz")
    assert path is not None, "the bundled S&P 500 index file is missing"
    with gzip.open(path, "rt") as handle:
        rows = handle.read().splitlines()[1:]
    return np.array([float(line.split(",")[1]) for line in rows])


def scheduled_refits(
    returns: np.ndarray, spec: RegimeModelSpec, curvature: bool
) -> tuple[float, np.ndarray]:
    """Seconds per refit and each window's log-likelihood along one warm-started chain."""
    model = None
    llfs, elapsed = [], 0.0
    for end in range(SCHEDULE_WINDOW, returns.size + 1, SCHEDULE_EVERY):
        window = returns[end - SCHEDULE_WINDOW : end]
        start = model.statsmodels_params() if model is not None else None
        hess = model.hess_inv_matrix() if (model is not None and curvature) else None
        started = time.perf_counter()
        model = fit_regime_model(window, spec, start_params=start, start_hess_inv=hess)
        elapsed += time.perf_counter() - started
        llfs.append(model.llf)
    return elapsed / len(llfs), np.array(llfs)


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
    plain_s, plain_llf = scheduled_refits(returns, spec, curvature=False)
    warm_s, warm_llf = scheduled_refits(returns, spec, curvature=True)
    diff = warm_llf - plain_llf
    print(f"window {WINDOW_BARS} bars, {UPDATES} online updates, {REFITS} refits", file=sys.stderr)
    print(
        json.dumps(
            {
                "online_update_us": round(online_update_us, 3),
                "refit_ms": round(refit_ms, 2),
                "ratio": round(ratio, 1),
                "fit_10y_s": round(fit_10y_s, 3),
                "warm_refit_ms": round(1000.0 * warm_s, 2),
                "warm_refit_statsmodels_ms": round(1000.0 * plain_s, 2),
                "warm_refit_speedup": round(plain_s / warm_s, 2),
                "warm_llf_better": int((diff > 0.01).sum()),
                "warm_llf_worse": int((diff < -0.01).sum()),
                "windows": int(diff.size),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
