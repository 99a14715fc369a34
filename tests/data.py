"""Test data: the real price files bundled in the repo (services/market_data/data).

Every test that reads a price file finds it here, through `data_file(name)`; nothing reads
outside the repository. The loaders below are the shapes several tests share. The files and
their sources and licences: services/market_data/data/ATTRIBUTION.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from services.market_data.data import bundled_file

SP500_20_STOCKS = "sp500_20stocks_daily_1990_2022.csv.gz"  # wide: Date, one column per stock
SP500_INDEX = "sp500_index_daily_1990_2022.csv.gz"  # Date, SP500
QUANDL_WIKI = "quandl_wiki_stocks_daily_2000_2013.csv.gz"  # long: Ticker, Date, prices
CRUDE = "crude_brent_wti_monthly_1987_2020.csv.gz"  # monthly Brent and WTI, UTF-8 BOM


def data_file(name: str) -> Path:
    """The path of a bundled price file (by file name or stem)."""
    path = bundled_file(name)
    if path is None:
        raise FileNotFoundError(f"no bundled price file {name!r} in services/market_data/data")
    return path


def wide_20_stocks() -> pd.DataFrame:
    """The 20 S&P 500 stocks' daily closes, indexed by date."""
    return pd.read_csv(data_file(SP500_20_STOCKS), index_col=0, parse_dates=True)


def load_pair(symbol_a: str, symbol_b: str, start: str, end: str) -> pd.DataFrame:
    """Two of the 20 stocks' closes from start to end (both inclusive), as float64."""
    frame = pd.read_csv(data_file(SP500_20_STOCKS), parse_dates=["Date"]).set_index("Date")
    return frame.loc[start:end, [symbol_a, symbol_b]].astype(np.float64)


def sp500_index() -> tuple[np.ndarray, pd.DatetimeIndex]:
    """S&P 500 closes and dates (skfolio 1.12.2 dataset, BSD-3-Clause)."""
    frame = pd.read_csv(data_file(SP500_INDEX), parse_dates=["Date"])
    return frame["SP500"].to_numpy(dtype=np.float64), pd.DatetimeIndex(frame["Date"])


def quandl_adj_close(tickers: list[str]) -> pd.DataFrame:
    """Adjusted closes of the long-format Quandl file, dates common to all tickers."""
    long = pd.read_csv(data_file(QUANDL_WIKI))
    wide = long[long["Ticker"].isin(tickers)].pivot(
        index="Date", columns="Ticker", values="Adj Close"
    )
    return wide[tickers].dropna()


def msft_ibm_closes(last: int | None = None) -> pd.DataFrame:
    """MSFT and IBM adjusted closes (UTC dates, sorted), optionally only the last rows."""
    frame = pd.read_csv(data_file(QUANDL_WIKI))
    frame["Date"] = pd.to_datetime(frame["Date"], utc=True)
    wide = frame.pivot(index="Date", columns="Ticker", values="Adj Close")[["MSFT", "IBM"]]
    wide = wide.dropna().sort_index()
    return wide if last is None else wide.iloc[-last:]


def crude() -> pd.DataFrame:
    """Monthly Brent and WTI prices, indexed by date."""
    return pd.read_csv(data_file(CRUDE), encoding="utf-8-sig", index_col=0)
