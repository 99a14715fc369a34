"""MacKinnon (1994, 2010) p-values and critical values, vectorised over arrays of statistics.

The response-surface coefficients are read from statsmodels' own tables (``adfvalues``) so that
the p-values agree bit for bit with ``statsmodels.tsa.adfvalues.mackinnonp``; only the scalar
branching is replaced by array masks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr
from statsmodels.tsa import adfvalues

Trend = Literal["n", "c", "ct", "ctt"]


def mackinnon_pvalue(
    stat: ArrayLike, *, trend: Trend = "c", n_series: int = 2
) -> NDArray[np.float64]:
    """Approximate p-values of (augmented) Dickey-Fuller / Engle-Granger tau statistics.

    ``n_series`` is the number of I(1) series (2 for a pair's Engle-Granger test). NaN in, NaN out.
    """
    if not 1 <= n_series <= 6:
        raise ValueError(f"n_series must be in 1..6 for MacKinnon tables, got {n_series}")
    tau = np.asarray(stat, dtype=np.float64)
    idx = n_series - 1
    max_stat = float(adfvalues._tau_maxs[trend][idx])
    min_stat = float(adfvalues._tau_mins[trend][idx])
    star_stat = float(adfvalues._tau_stars[trend][idx])
    small = np.asarray(adfvalues._tau_smallps[trend][idx], dtype=np.float64)[::-1]
    large = np.asarray(adfvalues._tau_largeps[trend][idx], dtype=np.float64)[::-1]
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.where(np.isfinite(tau), tau, 0.0)
        surface = np.where(
            finite <= star_stat, np.polyval(small, finite), np.polyval(large, finite)
        )
        pvalue = ndtr(surface)
    pvalue = np.where(tau > max_stat, 1.0, pvalue)
    pvalue = np.where(tau < min_stat, 0.0, pvalue)
    return np.where(np.isnan(tau), np.nan, pvalue).astype(np.float64)


def mackinnon_critical_values(
    nobs: float, *, trend: Trend = "c", n_series: int = 2
) -> NDArray[np.float64]:
    """1 %, 5 % and 10 % critical values (MacKinnon 2010) for a sample of ``nobs``."""
    crit = adfvalues.mackinnoncrit(N=n_series, regression=trend, nobs=nobs)
    return np.asarray(crit, dtype=np.float64)
