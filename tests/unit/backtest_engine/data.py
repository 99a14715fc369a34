"""The real price files for the engine tests: the copy bundled in services/market_data/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from services.market_data.data import DATA_DIR

SP500_FILE = "sp500_20stocks_daily_1990_2022.csv.gz"


def shared_data_dir() -> Path:
    """The project's bundled copy of ../shared/data (same files, same attribution)."""
    return DATA_DIR


def load_pair(symbol_a: str, symbol_b: str, start: str, end: str) -> pd.DataFrame:
    path = shared_data_dir() / SP500_FILE
    frame = pd.read_csv(path, parse_dates=["Date"]).set_index("Date")
    return frame.loc[start:end, [symbol_a, symbol_b]].astype(np.float64)
