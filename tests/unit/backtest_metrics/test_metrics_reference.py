"""Metrics with no library oracle checked against plain-loop formulas and the DSR paper."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

from services.backtest.metrics import compute_metrics
from services.backtest.metrics_dsr import (
    EULER_MASCHERONI,
    deflated_sharpe,
    expected_max_sharpe,
    nan_moments,
)

FloatArray = npt.NDArray[np.float64]


def loop_drawdown_duration(returns: FloatArray) -> int:
    equity, peak, run, longest = 1.0, 1.0, 0, 0
    for r in returns:
        equity *= 1.0 + (0.0 if math.isnan(r) else r)
        if equity >= peak:
            peak, run = equity, 0
        else:
            run += 1
            longest = max(longest, run)
    return longest


def loop_trades(returns: FloatArray, positions: FloatArray) -> list[float]:
    """Compounded return of each run of same-sign non-zero positions."""
    trades: list[float] = []
    previous_side = 0.0
    for r, p in zip(returns, positions, strict=True):
        side = math.copysign(1.0, p) if p != 0 else 0.0
        if side != 0 and side != previous_side:
            trades.append(1.0)
        if side != 0:
            trades[-1] *= 1.0 + r
        previous_side = side
    return [growth - 1.0 for growth in trades]


def _book(seed: int, n: int = 600) -> tuple[FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    positions = np.zeros(n)
    side = 0.0
    for t in range(n):
        u = rng.random()
        if side == 0 and u < 0.05:
            side = rng.choice([-1.0, 1.0])
        elif side != 0 and u < 0.08:
            side = 0.0
        elif side != 0 and u < 0.09:
            side = -side  # a direct flip
        positions[t] = side * rng.choice([1.0, 0.5])
    returns = np.where(positions != 0, rng.normal(0.0005, 0.01, n), 0.0)
    return returns, positions


def test_drawdown_duration_matches_loop() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.normal(0.0, 0.01, (400, 6))
    matrix[:, 5] = np.abs(matrix[:, 5])  # never under water
    matrix[10, 2] = np.nan
    got = compute_metrics(matrix).max_drawdown_duration
    assert got.tolist() == [loop_drawdown_duration(matrix[:, c]) for c in range(6)]
    assert got[5] == 0


def test_trade_statistics_match_loop_with_positions() -> None:
    books = [_book(seed) for seed in range(5)]
    returns = np.column_stack([b[0] for b in books])
    positions = np.column_stack([b[1] for b in books])
    metrics = compute_metrics(returns, positions)
    years = returns.shape[0] / 252.0
    for c in range(returns.shape[1]):
        trades = loop_trades(returns[:, c], positions[:, c])
        wins = [t for t in trades if t > 0]
        losses = [t for t in trades if t < 0]
        held = sum(1 for p in positions[:, c] if p != 0)
        traded = sum(
            abs(p - q) for p, q in zip(positions[:, c], [0.0, *positions[:-1, c]], strict=True)
        )
        assert metrics.n_trades[c] == len(trades)
        assert metrics.win_rate[c] == pytest.approx(len(wins) / len(trades), abs=1e-12)
        assert metrics.profit_factor[c] == pytest.approx(sum(wins) / -sum(losses), rel=1e-10)
        assert metrics.exposure[c] == pytest.approx(held / returns.shape[0], abs=1e-12)
        assert metrics.avg_holding_bars[c] == pytest.approx(held / len(trades), rel=1e-12)
        assert metrics.turnover[c] == pytest.approx(traded / years, rel=1e-12)


def test_trades_inferred_from_returns_without_positions() -> None:
    returns = np.array([0.0, 0.01, -0.005, 0.0, 0.0, -0.02, 0.0, 0.03, 0.01, 0.0])
    metrics = compute_metrics(returns)
    # Three runs of non-zero returns: +0.49 %, -2 %, +4.03 %.
    assert metrics.n_trades[0] == 3
    assert metrics.win_rate[0] == pytest.approx(2 / 3)
    expected_pf = ((1.01 * 0.995 - 1) + (1.03 * 1.01 - 1)) / 0.02
    assert metrics.profit_factor[0] == pytest.approx(expected_pf, rel=1e-12)
    assert metrics.exposure[0] == pytest.approx(0.5)
    assert metrics.avg_holding_bars[0] == pytest.approx(5 / 3)
    assert metrics.turnover[0] == pytest.approx(2 * 3 / (10 / 252))


def test_engine_trade_counts_are_authoritative() -> None:
    returns = np.column_stack([np.zeros(20), np.r_[np.zeros(10), np.full(10, 0.01)]])
    metrics = compute_metrics(returns, trade_counts=[0, 4])
    assert metrics.n_trades.tolist() == [0.0, 4.0]
    with pytest.raises(ValueError, match="trade_counts"):
        compute_metrics(returns, trade_counts=[1, 2, 3])


def test_moments_match_scipy() -> None:
    rng = np.random.default_rng(11)
    matrix = rng.standard_t(4, (300, 3))
    matrix[5, 1] = np.nan
    n, skew, kurt = nan_moments(matrix)
    for c in range(3):
        column = matrix[:, c][~np.isnan(matrix[:, c])]
        assert n[c] == column.size
        assert skew[c] == pytest.approx(stats.skew(column, bias=True), rel=1e-10)
        assert kurt[c] == pytest.approx(stats.kurtosis(column, fisher=False, bias=True), rel=1e-10)


def test_deflated_sharpe_reproduces_paper_example() -> None:
    # Bailey & López de Prado (2014), section 5: annualised SR 2.5 over 5 years of daily
    # data, 100 trials with annualised SR variance 0.5, skew -3, kurtosis 10 -> DSR 0.9004.
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = deflated_sharpe(
        np.array([2.5 / math.sqrt(250)]),
        np.array([1250.0]),
        np.array([-3.0]),
        np.array([10.0]),
        100,
        0.5 / 250,
    )
    assert dsr[0] == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_in_metrics_matches_loop_formula() -> None:
    rng = np.random.default_rng(5)
    matrix = rng.normal(0.0003, 0.01, (500, 8))
    metrics = compute_metrics(matrix)
    sharpes = [float(np.mean(matrix[:, c]) / np.std(matrix[:, c], ddof=1)) for c in range(8)]
    variance = float(np.var(sharpes, ddof=1))
    g = EULER_MASCHERONI
    sr0 = math.sqrt(variance) * (
        (1 - g) * stats.norm.ppf(1 - 1 / 8) + g * stats.norm.ppf(1 - 1 / (8 * math.e))
    )
    assert metrics.n_trials == 8
    assert metrics.trial_sharpe_variance == pytest.approx(variance, rel=1e-12)
    for c in range(8):
        col = matrix[:, c]
        sk = stats.skew(col)
        ku = stats.kurtosis(col, fisher=False)
        z = (
            (sharpes[c] - sr0)
            * math.sqrt(499)
            / math.sqrt(1 - sk * sharpes[c] + (ku - 1) / 4 * sharpes[c] ** 2)
        )
        assert metrics.deflated_sharpe[c] == pytest.approx(stats.norm.cdf(z), abs=1e-10)


def test_more_trials_deflate_more_and_one_trial_is_probabilistic_sharpe() -> None:
    series = np.random.default_rng(9).normal(0.001, 0.01, 400)
    one = compute_metrics(series, n_trials=1, trial_sharpe_variance=0.0).deflated_sharpe[0]
    many = compute_metrics(series, n_trials=1000, trial_sharpe_variance=0.002).deflated_sharpe[0]
    sr = np.mean(series) / np.std(series, ddof=1)
    sk, ku = stats.skew(series), stats.kurtosis(series, fisher=False)
    psr = stats.norm.cdf(sr * math.sqrt(399) / math.sqrt(1 - sk * sr + (ku - 1) / 4 * sr**2))
    assert one == pytest.approx(psr, abs=1e-12)
    assert many < one
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
