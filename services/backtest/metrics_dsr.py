"""Deflated Sharpe ratio (Bailey & López de Prado, 2014, "The Deflated Sharpe Ratio").

All Sharpe ratios here are per period (NOT annualised): the paper's formula mixes the Sharpe
ratio with the number of observations and the return moments of the same sampling frequency.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

FloatArray = npt.NDArray[np.float64]

EULER_MASCHERONI = 0.5772156649015329


def expected_max_sharpe(n_trials: int, trial_sharpe_variance: float) -> float:
    """SR_0: expected maximum of `n_trials` Sharpe ratios drawn with the given variance.

    Eq. (2) of the paper, with a true Sharpe ratio of zero for every trial. One trial means
    no selection happened, so the benchmark is 0 (the DSR becomes the probabilistic Sharpe).
    """
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if not np.isfinite(trial_sharpe_variance) or trial_sharpe_variance < 0:
        raise ValueError(
            f"trial_sharpe_variance must be finite and >= 0, got {trial_sharpe_variance}"
        )
    if n_trials == 1:
        return 0.0
    g = EULER_MASCHERONI
    quantiles = (1.0 - g) * norm.ppf(1.0 - 1.0 / n_trials) + g * norm.ppf(
        1.0 - 1.0 / (n_trials * np.e)
    )
    return float(np.sqrt(trial_sharpe_variance) * quantiles)


def probabilistic_sharpe(
    sharpe: FloatArray,
    benchmark_sharpe: float,
    n_observations: FloatArray,
    skewness: FloatArray,
    kurtosis: FloatArray,
) -> FloatArray:
    """P[true SR > benchmark] given the estimate, sample length and return moments.

    `kurtosis` is the Pearson (non-excess) kurtosis: 3 for normal returns. Columns with fewer
    than two observations, or an undefined Sharpe ratio, give NaN.
    """
    sr = np.asarray(sharpe, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator_sq = 1.0 - skewness * sr + (kurtosis - 1.0) / 4.0 * sr**2
        # A non-positive variance term only arises from moments estimated on degenerate
        # samples; the test statistic is undefined there.
        z = (sr - benchmark_sharpe) * np.sqrt(n_observations - 1.0) / np.sqrt(denominator_sq)
        out = norm.cdf(z)
    bad = ~np.isfinite(sr) | (n_observations < 2) | ~(denominator_sq > 0)
    return np.where(bad, np.nan, out).astype(np.float64)


def deflated_sharpe(
    sharpe: FloatArray,
    n_observations: FloatArray,
    skewness: FloatArray,
    kurtosis: FloatArray,
    n_trials: int,
    trial_sharpe_variance: float,
) -> FloatArray:
    """Eq. (1)-(2): probabilistic Sharpe against the expected maximum of `n_trials` trials."""
    sr0 = expected_max_sharpe(n_trials, trial_sharpe_variance)
    return probabilistic_sharpe(sharpe, sr0, n_observations, skewness, kurtosis)


def nan_moments(returns: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Column-wise (count, skewness, Pearson kurtosis) ignoring NaN, biased moment estimators.

    The biased (population) estimators are the ones used in the paper. Zero-variance columns
    give skewness 0 and kurtosis 3 (the normal values) so that a flat track record is judged
    on its Sharpe ratio alone rather than becoming undefined.
    """
    valid = ~np.isnan(returns)
    n = valid.sum(axis=0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, returns, 0.0).sum(axis=0) / n
        dev = np.where(valid, returns - mean, 0.0)
        m2 = (dev**2).sum(axis=0) / n
        m3 = (dev**3).sum(axis=0) / n
        m4 = (dev**4).sum(axis=0) / n
        flat = m2 <= 0
        skew = np.where(flat, 0.0, m3 / m2**1.5)
        kurt = np.where(flat, 3.0, m4 / m2**2)
    skew = np.where(n > 0, skew, np.nan)
    kurt = np.where(n > 0, kurt, np.nan)
    return n, skew.astype(np.float64), kurt.astype(np.float64)
