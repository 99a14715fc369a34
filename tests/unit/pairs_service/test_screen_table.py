"""The pipeline builds records only for the pairs it steps, and changes nothing by it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC

import numpy as np
import pytest

from core.cointegration import PairScreenResult, ScreenTable, screen_arrays
from core.cointegration.screen import screen_records
from services.pairs.domain.lifecycle import (
    LifecycleSettings,
    ScreenOutcome,
    passes,
    passing_mask,
)
from services.pairs.domain.pipeline import Effects, Pipeline, PipelineConfig
from services.pairs.domain.screening import ScreenSettings, in_process_screen
from services.pairs.domain.universe import BarClose
from tests.data import wide_20_stocks
from tests.unit.pairs.synthetic import random_universe


def test_a_screen_table_reads_as_the_screens_records() -> None:
    closes = random_universe(3, n_bars=120, n_symbols=12)
    symbols = [f"S{k:02d}" for k in range(12)]
    res = screen_arrays(closes)
    table, records = ScreenTable(res, symbols), screen_records(res, symbols)
    assert len(table) == len(records) == 66
    assert list(table) == records and table == records and records == list(table)
    assert table[0] == records[0] and table[-1] == records[-1]
    assert table[10:20] == records[10:20]
    row = int(table.order[7])
    assert table.record(row) == records[7]
    # A subset of rows, sorted alone, keeps the order those rows have among all records.
    rows = np.flatnonzero(np.random.default_rng(5).random(len(records)) < 0.3)
    wanted = {int(r) for r in rows}
    assert list(table.records(rows)) == [
        table.record(int(r)) for r in table.order.tolist() if r in wanted
    ]
    tied = ScreenTable(replace(res, adf_stat=np.zeros(66), pvalue=np.full(66, 0.5)), symbols)
    assert list(tied.records(rows)) == [tied.record(int(r)) for r in rows]  # ties: by row


def _closes(start: str, end: str) -> list[BarClose]:
    frame = wide_20_stocks().loc[start:end]
    out = []
    for when, row in frame.iterrows():
        t = when.to_pydatetime().replace(tzinfo=UTC)  # type: ignore[attr-defined]
        out += [BarClose(str(s), t, float(c), 0) for s, c in row.items() if np.isfinite(c)]
    return out


def _run(screen: object) -> Effects:
    config = PipelineConfig(screen=ScreenSettings(window=120, every=10))
    fx = Effects()
    Pipeline(config, screen).on_released(_closes("2007-01-01", "2010-12-31"), fx)  # type: ignore[arg-type]
    return fx


@pytest.fixture(scope="module")
def both() -> tuple[Effects, Effects, list[int]]:
    built: list[int] = []

    def every_record(*args: object) -> Sequence[PairScreenResult]:
        records = list(in_process_screen(*args))  # type: ignore[arg-type]
        built.append(len(records))
        return records  # a list: the pipeline steps through every one, as before tables

    return _run(in_process_screen), _run(every_record), built


def test_stepping_only_passing_and_tracked_pairs_gives_every_effect_of_the_full_loop(
    both: tuple[Effects, Effects, list[int]],
) -> None:
    table_run, list_run, built = both
    assert len(built) > 50, "the scenario must run many screens"
    states = {e.payload.to_state for e in table_run.events if e.topic == "pairs.lifecycle.v1"}
    assert {"candidate", "active", "retired"} <= states, states  # tracked pairs come and go
    assert table_run.events == list_run.events
    assert table_run.tests == list_run.tests
    assert table_run.pairs == list_run.pairs and table_run.trackers == list_run.trackers
    assert table_run.spreads == list_run.spreads and table_run.screens == list_run.screens


def test_the_vectorised_pass_is_the_lifecycles_pass_on_every_kind_of_value() -> None:
    rng = np.random.default_rng(9)
    special = np.array([np.nan, np.inf, -np.inf, 0.0, 1.0, 0.05, 60.0, 0.5])

    def column(scale: float) -> np.ndarray:
        """Uniform in [0, scale), a fifth replaced by limits and non-finite values."""
        values = rng.random(4000) * scale
        odd = rng.random(4000) < 0.2
        values[odd] = rng.choice(special, size=int(odd.sum()))
        return values

    pvalue, half_life, hurst = column(0.1), column(80.0), column(1.0)
    settings = LifecycleSettings()
    mask = passing_mask(pvalue, half_life, hurst, settings)
    expected = [
        passes(ScreenOutcome(float(p), float(h), float(u)), settings)
        for p, h, u in zip(pvalue, half_life, hurst, strict=True)
    ]
    assert mask.tolist() == expected
    assert 0 < sum(expected) < len(expected)  # both verdicts occur
