"""Locates the shared real price files (repo parent's shared/data) for the engine tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SP500_FILE = "sp500_20stocks_daily_1990_2022.csv.gz"


def shared_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


def load_pair(symbol_a: str, symbol_b: str, start: str, end: str) -> pd.DataFrame:
    path = shared_data_dir() / SP500_FILE
    if not path.exists():
        pytest.skip(f"shared price file not found at {path}")
    frame = pd.read_csv(path, parse_dates=["Date"]).set_index("Date")
    return frame.loc[start:end, [symbol_a, symbol_b]].astype(np.float64)
