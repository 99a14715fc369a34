"""Where the shared price files are (the repo's parent holds shared/data)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def shared_data() -> Path:
    here = Path(__file__).resolve()
    return next(p / "shared" / "data" for p in here.parents if (p / "shared" / "data").is_dir())


def msft_ibm_closes(last: int | None = None) -> pd.DataFrame:
    frame = pd.read_csv(shared_data() / "quandl_wiki_stocks_daily_2000_2013.csv.gz")
    frame["Date"] = pd.to_datetime(frame["Date"], utc=True)
    wide = frame.pivot(index="Date", columns="Ticker", values="Adj Close")[["MSFT", "IBM"]]
    wide = wide.dropna().sort_index()
    return wide if last is None else wide.iloc[-last:]
