"""Backtest performance metrics, vectorised over the columns of a returns matrix.

`returns` is T x C: per-bar simple returns on capital of C backtests (grid combos). Every
metric is an array of C values. Conventions (they match empyrical-reloaded 0.7.1, the oracle
in the tests):

- NaN marks a missing bar. It is left out of moments (mean, standard deviation, downside
  deviation, skewness, kurtosis), compounds as a zero return (equity carried forward), and
  still counts as elapsed time in CAGR and turnover.
- `max_drawdown` is a negative fraction (-0.25 is a 25 % fall from peak) measured from an
  initial equity of 1; `max_drawdown_duration` is the longest run of bars spent below a
  previous equity peak.
- Zero dispersion: a column whose returns are all equal has standard deviation exactly 0, so
  its Sharpe ratio is NaN when the mean excess return is 0 (an all-zero series: a combo that
  never traded) and +/-inf otherwise. Sortino likewise (0/0 -> NaN, x/0 -> +/-inf).
- Calmar is NaN when there is no drawdown or when CAGR is infinite.
- Fewer than two valid bars: Sharpe, Sortino and volatility are NaN. No rows: all NaN.
- `risk_free` is a per-period rate, also used as the Sortino minimum acceptable return.
- Deflated Sharpe (Bailey & López de Prado 2014) treats the C columns as the trials unless
  `n_trials` / `trial_sharpe_variance` are given (a walk-forward passes its whole search).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from services.backtest.metrics_dsr import deflated_sharpe, nan_moments
from services.backtest.metrics_trades import trade_stats

FloatArray = npt.NDArray[np.float64]

# Direction of each metric when used as an optimisation objective.
HIGHER_IS_BETTER: dict[str, bool] = {
    "total_return": True,
    "cagr": True,
    "annual_volatility": False,
    "sharpe": True,
    "sortino": True,
    "max_drawdown": True,  # negative numbers: closer to 0 is better
    "max_drawdown_duration": False,
    "calmar": True,
    "win_rate": True,
    "profit_factor": True,
    "turnover": False,
    "avg_holding_bars": True,
    "n_trades": True,
    "exposure": True,
    "deflated_sharpe": True,
    "sharpe_per_period": True,
    "skewness": True,
    "kurtosis": False,
    "n_observations": True,
}


@dataclass(frozen=True)
class PerformanceMetrics:
    """One array of C values per metric, plus the trial count behind the deflated Sharpe."""

    total_return: FloatArray
    cagr: FloatArray
    annual_volatility: FloatArray
    sharpe: FloatArray
    sortino: FloatArray
    max_drawdown: FloatArray
    max_drawdown_duration: FloatArray
    calmar: FloatArray
    win_rate: FloatArray
    profit_factor: FloatArray
    turnover: FloatArray
    avg_holding_bars: FloatArray
    n_trades: FloatArray
    exposure: FloatArray
    deflated_sharpe: FloatArray
    sharpe_per_period: FloatArray
    skewness: FloatArray
    kurtosis: FloatArray
    n_observations: FloatArray
    n_trials: int
    trial_sharpe_variance: float

    def metric(self, name: str) -> FloatArray:
        if name not in HIGHER_IS_BETTER:
            raise KeyError(f"unknown metric {name!r}; known: {', '.join(sorted(HIGHER_IS_BETTER))}")
        value: FloatArray = getattr(self, name)
        return value

    def column(self, index: int) -> dict[str, float]:
        """Every metric of one combo as plain floats (JSON friendly)."""
        out = {name: float(self.metric(name)[index]) for name in HIGHER_IS_BETTER}
        out["n_trials"] = float(self.n_trials)
        out["trial_sharpe_variance"] = float(self.trial_sharpe_variance)
        return out

    def as_arrays(self) -> dict[str, FloatArray]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name in HIGHER_IS_BETTER}


def _as_matrix(returns: npt.ArrayLike, name: str) -> FloatArray:
    arr = np.asarray(returns, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, C), got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    return arr


def _filled(returns: FloatArray) -> FloatArray:
    """Missing bars compound as a zero return."""
    missing = np.isnan(returns)
    return np.where(missing, 0.0, returns) if missing.any() else returns


def _equity_summary(filled: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(total return, max drawdown, max drawdown duration) from ONE pass over the equity."""
    n_cols = filled.shape[1]
    if filled.shape[0] == 0:
        return np.full(n_cols, np.nan), np.full(n_cols, np.nan), np.full(n_cols, np.nan)
    equity = np.cumprod(1.0 + filled, axis=0)
    # The initial equity of 1 is the first peak.
    peak = np.maximum(np.maximum.accumulate(equity, axis=0), 1.0)
    drawdown = equity / peak - 1.0
    underwater = drawdown < 0.0
    idx = np.arange(1, underwater.shape[0] + 1)[:, None]
    last_at_peak = np.maximum.accumulate(np.where(underwater, 0, idx), axis=0)
    duration = (idx - last_at_peak).max(axis=0).astype(np.float64)
    return equity[-1] - 1.0, np.minimum(drawdown.min(axis=0), 0.0), duration


def _cagr_from_total(total: FloatArray, n_bars: int, periods_per_year: float) -> FloatArray:
    if n_bars == 0:
        return np.full(total.shape, np.nan)
    with np.errstate(invalid="ignore"):
        # A negative ending value (loss beyond capital) has no real root: NaN.
        out: FloatArray = np.power(1.0 + total, periods_per_year / n_bars) - 1.0
    return out


def _calmar_from(growth: FloatArray, mdd: FloatArray) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = growth / np.abs(mdd)
    out: FloatArray = np.where((mdd < 0) & np.isfinite(ratio), ratio, np.nan)
    return out


def total_return(returns: FloatArray) -> FloatArray:
    return _equity_summary(_filled(returns))[0]


def cagr(returns: FloatArray, periods_per_year: float = 252.0) -> FloatArray:
    return _cagr_from_total(total_return(returns), returns.shape[0], periods_per_year)


def _zero_dispersion_std(values: FloatArray) -> FloatArray:
    """nanstd(ddof=1) with an exact 0 where every valid value of a column is equal.

    The mean of identical floats can differ from them in the last bit, leaving a residue of
    ~1e-18 that would turn an infinite ratio into an arbitrary ~1e15.
    """
    missing = np.isnan(values)
    valid = (~missing).sum(axis=0)
    if values.shape[0] == 0:
        return np.full(values.shape[1], np.nan)
    mean = _nanmean(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        squares = np.where(missing, 0.0, values - mean) ** 2
        std = np.sqrt(squares.sum(axis=0) / (valid - 1))
    highest = np.where(missing, -np.inf, values).max(axis=0)
    lowest = np.where(missing, np.inf, values).min(axis=0)
    constant = (valid >= 2) & (highest == lowest)
    std = np.where(valid >= 2, std, np.nan)
    return np.where(constant, 0.0, std)


def annual_volatility(returns: FloatArray, periods_per_year: float = 252.0) -> FloatArray:
    out: FloatArray = _zero_dispersion_std(returns) * np.sqrt(periods_per_year)
    return out


def _nanmean(values: FloatArray) -> FloatArray:
    valid = ~np.isnan(values)
    count = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = np.where(valid, values, 0.0).sum(axis=0) / count
    return out


def sharpe_per_period(returns: FloatArray, risk_free: float = 0.0) -> FloatArray:
    excess = returns - risk_free
    with np.errstate(invalid="ignore", divide="ignore"):
        out: FloatArray = _nanmean(excess) / _zero_dispersion_std(excess)
    return out


def sharpe(
    returns: FloatArray, risk_free: float = 0.0, periods_per_year: float = 252.0
) -> FloatArray:
    out: FloatArray = sharpe_per_period(returns, risk_free) * np.sqrt(periods_per_year)
    return out


def sortino(
    returns: FloatArray, risk_free: float = 0.0, periods_per_year: float = 252.0
) -> FloatArray:
    excess = returns - risk_free
    downside = np.clip(excess, None, 0.0) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        downside_risk = np.sqrt(_nanmean(downside)) * np.sqrt(periods_per_year)
        out: FloatArray = _nanmean(excess) * periods_per_year / downside_risk
    out[(~np.isnan(returns)).sum(axis=0) < 2] = np.nan
    return out


def drawdown_matrix(returns: FloatArray) -> FloatArray:
    """(T+1) x C drawdown from the running equity peak; row 0 is the initial equity of 1."""
    growth = 1.0 + _filled(returns)
    equity = np.vstack([np.ones((1, returns.shape[1])), np.cumprod(growth, axis=0)])
    peak = np.maximum.accumulate(equity, axis=0)
    out: FloatArray = equity / peak - 1.0
    return out


def max_drawdown(returns: FloatArray) -> FloatArray:
    return _equity_summary(_filled(returns))[1]


def max_drawdown_duration(returns: FloatArray) -> FloatArray:
    """Longest run of consecutive bars below the previous equity peak."""
    return _equity_summary(_filled(returns))[2]


def calmar(returns: FloatArray, periods_per_year: float = 252.0) -> FloatArray:
    return _calmar_from(cagr(returns, periods_per_year), max_drawdown(returns))


def compute_metrics(
    returns: npt.ArrayLike,
    positions: npt.ArrayLike | None = None,
    *,
    periods_per_year: float = 252.0,
    risk_free: float = 0.0,
    trade_counts: npt.ArrayLike | None = None,
    n_trials: int | None = None,
    trial_sharpe_variance: float | None = None,
) -> PerformanceMetrics:
    """Every metric for each column of `returns` (T x C, or T for one series).

    `positions` (same shape, position held over each bar) gives exact trade statistics;
    without it trades are inferred from non-zero returns (see metrics_trades).
    `trade_counts` (C,), when given, is the authoritative `n_trades` (the engine's count).
    `n_trials` defaults to C and `trial_sharpe_variance` to the sample variance (ddof=1) of
    the C per-period Sharpe ratios (0 with a single finite one).
    """
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    r = _as_matrix(returns, "returns")
    pos = None
    if positions is not None:
        pos = _as_matrix(positions, "positions")
        if pos.shape != r.shape:
            raise ValueError(f"positions shape {pos.shape} != returns shape {r.shape}")
    n_cols = r.shape[1]

    sr_pp = sharpe_per_period(r, risk_free)
    n_obs, skew, kurt = nan_moments(r)
    trials = n_cols if n_trials is None else int(n_trials)
    if trial_sharpe_variance is None:
        finite = sr_pp[np.isfinite(sr_pp)]
        variance = float(np.var(finite, ddof=1)) if finite.size >= 2 else 0.0
    else:
        variance = float(trial_sharpe_variance)
    dsr = deflated_sharpe(sr_pp, n_obs, skew, kurt, trials, variance)

    total, mdd, mdd_duration = _equity_summary(_filled(r))
    growth = _cagr_from_total(total, r.shape[0], periods_per_year)
    trades = trade_stats(r, pos, periods_per_year) if r.shape[0] else None
    nan_cols = np.full(n_cols, np.nan)
    n_trades = trades.n_trades if trades else nan_cols
    if trade_counts is not None:
        counts = np.asarray(trade_counts, dtype=np.float64).reshape(-1)
        if counts.shape != (n_cols,):
            raise ValueError(f"trade_counts must have shape ({n_cols},), got {counts.shape}")
        n_trades = counts
    return PerformanceMetrics(
        total_return=total,
        cagr=growth,
        annual_volatility=annual_volatility(r, periods_per_year),
        sharpe=sr_pp * np.sqrt(periods_per_year),
        sortino=sortino(r, risk_free, periods_per_year),
        max_drawdown=mdd,
        max_drawdown_duration=mdd_duration,
        calmar=_calmar_from(growth, mdd),
        win_rate=trades.win_rate if trades else nan_cols,
        profit_factor=trades.profit_factor if trades else nan_cols,
        turnover=trades.turnover if trades else nan_cols,
        avg_holding_bars=trades.avg_holding_bars if trades else nan_cols,
        n_trades=n_trades,
        exposure=trades.exposure if trades else nan_cols,
        deflated_sharpe=dsr,
        sharpe_per_period=sr_pp,
        skewness=skew,
        kurtosis=kurt,
        n_observations=n_obs,
        n_trials=trials,
        trial_sharpe_variance=variance,
    )
