"""Pure-NumPy cointegration engine of the pairs service (no I/O).

Engle-Granger over whole universes (statsmodels ``coint`` parity), Johansen for pairs, hedge
ratios (OLS, TLS, rolling OLS, Kalman), spread diagnostics and the universe screen.
"""

from services.pairs.engine.diagnostics import (
    StabilityResult,
    benjamini_hochberg,
    cointegration_stability,
    half_life,
    hurst_exponent,
)
from services.pairs.engine.engle_granger import (
    Autolag,
    EngleGrangerResult,
    default_maxlag,
    engle_granger,
    engle_granger_all_pairs,
)
from services.pairs.engine.hedge import (
    HedgeFit,
    ols_hedge_ratio,
    rolling_ols_hedge_ratio,
    tls_hedge_ratio,
)
from services.pairs.engine.johansen import JohansenResult, johansen_pairs
from services.pairs.engine.kalman import KalmanHedgeRatio, KalmanPath, KalmanStep
from services.pairs.engine.mackinnon import mackinnon_critical_values, mackinnon_pvalue
from services.pairs.engine.screen import (
    PairScreenResult,
    ScreenArrays,
    screen_arrays,
    screen_universe,
)

__all__ = [
    "Autolag",
    "EngleGrangerResult",
    "HedgeFit",
    "JohansenResult",
    "KalmanHedgeRatio",
    "KalmanPath",
    "KalmanStep",
    "PairScreenResult",
    "ScreenArrays",
    "StabilityResult",
    "benjamini_hochberg",
    "cointegration_stability",
    "default_maxlag",
    "engle_granger",
    "engle_granger_all_pairs",
    "half_life",
    "hurst_exponent",
    "johansen_pairs",
    "mackinnon_critical_values",
    "mackinnon_pvalue",
    "ols_hedge_ratio",
    "rolling_ols_hedge_ratio",
    "screen_arrays",
    "screen_universe",
    "tls_hedge_ratio",
]
