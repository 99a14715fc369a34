"""The vectorised metrics agree with empyrical-reloaded 0.7.1 to 1e-10 on fixed series."""

from __future__ import annotations

from collections.abc import Callable

import empyrical as ep
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from services.backtest.metrics import compute_metrics
from tests.data import SP500_20_STOCKS, data_file

FloatArray = npt.NDArray[np.float64]
TOL = 1e-10


def _fixed_series() -> dict[str, FloatArray]:
    rng = np.random.default_rng(20140101)
    normal = rng.normal(0.0004, 0.011, 750)
    fat = 0.006 * rng.standard_t(3, 500)
    with_nan = rng.normal(0.0002, 0.01, 300)
    with_nan[[0, 17, 18, 150, 299]] = np.nan
    # A pairs book: flat most of the time, in a trade now and then.
    sparse = np.where(rng.random(400) < 0.3, rng.normal(0.001, 0.008, 400), 0.0)
    prices = pd.read_csv(data_file(SP500_20_STOCKS))
    msft = prices["MSFT"].to_numpy()[-1500:]
    return {
        "normal": normal,
        "student_t3": fat,
        "with_nan": with_nan,
        "sparse_pairs_book": sparse,
        "msft_real": msft[1:] / msft[:-1] - 1.0,
        "losing": -np.abs(rng.normal(0.001, 0.002, 120)),
        "short": np.array([0.01, -0.02, 0.015]),
    }


SERIES = _fixed_series()


def _assert_same(ours: FloatArray, theirs: float, label: str) -> None:
    expected = np.float64(theirs)
    if np.isnan(expected):
        assert np.isnan(ours), f"{label}: expected NaN, got {ours}"
    elif np.isinf(expected):
        assert ours == expected, f"{label}: expected {expected}, got {ours}"
    else:
        assert abs(ours - expected) <= TOL * max(1.0, abs(expected)), (
            f"{label}: {ours!r} != {expected!r}"
        )


ORACLE: dict[str, Callable[[FloatArray, float], float]] = {
    "sharpe": lambda r, ppy: ep.sharpe_ratio(r, annualization=ppy),
    "sortino": lambda r, ppy: ep.sortino_ratio(r, annualization=ppy),
    "max_drawdown": lambda r, ppy: ep.max_drawdown(r),
    "annual_volatility": lambda r, ppy: ep.annual_volatility(r, annualization=ppy),
    "cagr": lambda r, ppy: ep.cagr(r, annualization=ppy),
    "calmar": lambda r, ppy: ep.calmar_ratio(r, annualization=ppy),
    "total_return": lambda r, ppy: ep.cum_returns_final(r),
}


@pytest.mark.parametrize("periods_per_year", [252.0, 12.0])
@pytest.mark.parametrize("name", sorted(SERIES))
def test_each_series_matches_empyrical(name: str, periods_per_year: float) -> None:
    series = SERIES[name]
    metrics = compute_metrics(series, periods_per_year=periods_per_year)
    for metric, oracle in ORACLE.items():
        _assert_same(
            metrics.metric(metric)[0], oracle(series, periods_per_year), f"{name}.{metric}"
        )


def test_matrix_columns_match_empyrical_column_by_column() -> None:
    length = min(len(s) for s in SERIES.values() if len(s) > 100)
    matrix = np.column_stack([s[:length] for s in SERIES.values() if len(s) > 100])
    metrics = compute_metrics(matrix)
    for metric, oracle in ORACLE.items():
        for col in range(matrix.shape[1]):
            _assert_same(metrics.metric(metric)[col], oracle(matrix[:, col], 252.0), metric)


def test_risk_free_matches_empyrical() -> None:
    series = SERIES["normal"]
    metrics = compute_metrics(series, risk_free=0.0001)
    _assert_same(metrics.sharpe[0], ep.sharpe_ratio(series, risk_free=0.0001), "sharpe rf")
    _assert_same(metrics.sortino[0], ep.sortino_ratio(series, required_return=0.0001), "sortino")


def test_all_zero_series_documented_behaviour() -> None:
    zeros = np.zeros(250)
    metrics = compute_metrics(zeros)
    # Same as the oracle: a combo that never traded has an undefined Sharpe/Sortino/Calmar.
    for metric, oracle in ORACLE.items():
        _assert_same(metrics.metric(metric)[0], oracle(zeros, 252.0), f"zeros.{metric}")
    assert np.isnan(metrics.sharpe[0]) and np.isnan(metrics.sortino[0])
    assert np.isnan(metrics.calmar[0])
    assert metrics.max_drawdown[0] == 0.0 and metrics.cagr[0] == 0.0
    assert metrics.n_trades[0] == 0 and metrics.exposure[0] == 0.0
    assert np.isnan(metrics.win_rate[0]) and np.isnan(metrics.deflated_sharpe[0])


def test_constant_positive_series_has_infinite_sharpe_like_oracle() -> None:
    constant = np.full(100, 0.001)
    metrics = compute_metrics(constant)
    assert metrics.sharpe[0] == ep.sharpe_ratio(constant) == np.inf
    assert metrics.sortino[0] == ep.sortino_ratio(constant) == np.inf


def test_all_nan_and_empty_give_nan_not_errors() -> None:
    all_nan = np.full(50, np.nan)
    metrics = compute_metrics(np.column_stack([all_nan, SERIES["normal"][:50]]))
    assert np.isnan(metrics.sharpe[0]) and np.isnan(metrics.annual_volatility[0])
    assert metrics.max_drawdown[0] == 0.0 and metrics.total_return[0] == 0.0
    assert np.isfinite(metrics.sharpe[1])
    empty = compute_metrics(np.empty((0, 3)))
    for name in ("sharpe", "cagr", "max_drawdown", "total_return", "win_rate"):
        assert np.isnan(empty.metric(name)).all(), name


def test_bad_input_is_rejected_precisely() -> None:
    with pytest.raises(ValueError, match="infinite"):
        compute_metrics(np.array([0.1, np.inf]))
    with pytest.raises(ValueError, match="1-D"):
        compute_metrics(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="periods_per_year"):
        compute_metrics(np.zeros(3), periods_per_year=0)
    with pytest.raises(ValueError, match="positions shape"):
        compute_metrics(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(KeyError, match="unknown metric"):
        compute_metrics(np.zeros(3)).metric("alpha")
