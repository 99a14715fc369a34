"""DataFrames from the client as template tables (column names and rows of plain values)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Any]]

    def __len__(self) -> int:
        return len(self.rows)


def _cell(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return value


def table(frame: pd.DataFrame) -> Table:
    """A frame's columns (a named index becomes the first column) and its rows."""
    if frame.index.name is not None:
        frame = frame.reset_index()
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return Table([str(c) for c in frame.columns], rows)
