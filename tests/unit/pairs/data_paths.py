"""The real price files for the pairs tests: the copy bundled in services/market_data/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from services.market_data.data import DATA_DIR

_MARKER = "sp500_20stocks_daily_1990_2022.csv.gz"


def shared_data_dir() -> Path:
    """The project's bundled copy of ../shared/data (same files, same attribution)."""
    return DATA_DIR


def wide_20_stocks() -> pd.DataFrame:
    return pd.read_csv(shared_data_dir() / _MARKER, index_col=0, parse_dates=True)


def quandl_adj_close(tickers: list[str]) -> pd.DataFrame:
    """Adjusted closes of the long-format Quandl file, dates common to all tickers."""
    long = pd.read_csv(shared_data_dir() / "quandl_wiki_stocks_daily_2000_2013.csv.gz")
    wide = long[long["Ticker"].isin(tickers)].pivot(
        index="Date", columns="Ticker", values="Adj Close"
    )
    return wide[tickers].dropna()


def crude() -> pd.DataFrame:
    return pd.read_csv(
        shared_data_dir() / "crude_brent_wti_monthly_1987_2020.csv.gz",
        encoding="utf-8-sig",
        index_col=0,
    )


def random_universe(seed: int, n_bars: int, n_symbols: int) -> np.ndarray:
    """Geometric random walks with two planted cointegrated pairs (0, 1) and (2, 3)."""
    rng = np.random.default_rng(seed)
    log_p = 4.0 + np.cumsum(0.01 * rng.standard_normal((n_bars, n_symbols)), axis=0)
    for lead, follower, phi, beta in ((0, 1, 0.7, 1.3), (2, 3, 0.95, 0.6)):
        shocks = 0.01 * rng.standard_normal(n_bars)
        spread = np.zeros(n_bars)
        for t in range(1, n_bars):
            spread[t] = phi * spread[t - 1] + shocks[t]
        log_p[:, follower] = 1.0 + beta * log_p[:, lead] + spread
    return np.exp(log_p)
