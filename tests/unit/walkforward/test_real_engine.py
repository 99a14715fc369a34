"""Walk-forward driven by the real grid engine on MSFT/IBM (cointegrated 2000-2013)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from services.backtest.engine import Costs, GridResult, ParamGrid, run_grid
from services.backtest.walkforward import (
    PublicationCriteria,
    combo_params,
    decide_publication,
    make_splits,
    run_walk_forward,
)
from tests.data import QUANDL_WIKI, data_file

GRID = ParamGrid(entry_z=(1.5, 2.0, 2.5), exit_z=(0.0, 0.5), stop_z=(4.0,), lookback=(20, 60))
COSTS = Costs(commission_bps=1.0, slippage_bps=2.0)


def _prices() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.str_]]:
    frame = pd.read_csv(data_file(QUANDL_WIKI))
    wide = frame.pivot(index="Date", columns="Ticker", values="Adj Close")[["MSFT", "IBM"]].dropna()
    wide = wide.iloc[-1500:]
    return (
        np.log(wide["MSFT"].to_numpy(np.float64)),
        np.log(wide["IBM"].to_numpy(np.float64)),
        wide.index.to_numpy().astype(str),
    )


def _causal_volatility_regime(log_prices: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """1 where 20-bar realised volatility exceeds its own expanding median, else 0."""
    vol = pd.Series(np.diff(log_prices, prepend=log_prices[0])).rolling(20, min_periods=2).std()
    return (vol > vol.expanding().median()).to_numpy().astype(np.int64)


def test_walk_forward_with_the_real_grid_engine() -> None:
    prices_a, prices_b, times = _prices()
    labels = _causal_volatility_regime(prices_a)

    def evaluate(start: int, end: int) -> GridResult:
        # Rolling hedge: causal, so one run over train + test leaks nothing into training.
        return run_grid(
            prices_a[start:end], prices_b[start:end], times[start:end], GRID, COSTS, hedge="rolling"
        )

    splits = make_splits(len(times), train_bars=500, test_bars=250)
    result = run_walk_forward(evaluate, len(times), splits, labels, min_in_sample_trades=2)
    combos = GRID.combinations()
    assert result.n_combos == len(GRID) == len(combos)
    for regime, summary in result.regimes.items():
        assert summary.n_trials == len(GRID) * len(summary.selections)
        assert (labels[summary.oos_bar_index] == regime).all()
        assert len(summary.selections) + len(summary.skipped) == len(splits)
    # The stitched book is exactly the engine's returns of the chosen combos on test bars.
    first = splits[0]
    direct = evaluate(first.train_start, first.test_end).returns
    for regime, summary in result.regimes.items():
        sel = next((s for s in summary.selections if s.split == first), None)
        if sel is None:
            continue
        rows = np.flatnonzero(labels[first.test_start : first.test_end] == regime)
        got = summary.oos_returns[: rows.size]
        np.testing.assert_allclose(got, direct[rows + first.train_bars, sel.combo], rtol=0, atol=0)
    assert np.isfinite(result.out_of_sample["sharpe"])

    decision = decide_publication(
        result,
        list(combos),
        pair="MSFT~IBM",
        data_start=times[0],
        data_end=times[-1],
        criteria=PublicationCriteria(
            min_oos_sharpe=-np.inf,
            min_deflated_sharpe=0.0,
            max_oos_drawdown=1.0,
            min_oos_trades=1,
            min_oos_bars=1,
        ),
    )
    assert decision.publish, decision.reasons
    for regime, published in decision.published.items():
        latest = result.regimes[regime].latest_combo
        assert latest is not None
        assert published.params == combo_params(combos[latest])
        assert GRID.params(latest).entry_z == published.params["entry_z"]
        assert published.version is not None and published.version.startswith("ps-")


def test_real_engine_shape_mismatch_is_reported() -> None:
    prices_a, prices_b, times = _prices()

    def short_window(start: int, end: int) -> GridResult:
        return run_grid(
            prices_a[start : end - 1],
            prices_b[start : end - 1],
            times[start : end - 1],
            GRID,
            COSTS,
            hedge="rolling",
        )

    with pytest.raises(ValueError, match="expected"):
        run_walk_forward(short_window, len(times), make_splits(len(times), 500, 250))
