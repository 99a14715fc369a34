"""Locate /work/shared/data (the repo's sibling `shared/data`) for tests that read real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def shared_data_dir() -> Path:
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "data"


SP500_INDEX = "sp500_index_daily_1990_2022.csv.gz"


def sp500_index() -> tuple[np.ndarray, pd.DatetimeIndex]:
    """S&P 500 closes and dates (skfolio 1.12.2 dataset, BSD-3-Clause)."""
    frame = pd.read_csv(shared_data_dir() / SP500_INDEX, parse_dates=["Date"])
    return frame["SP500"].to_numpy(dtype=np.float64), pd.DatetimeIndex(frame["Date"])
