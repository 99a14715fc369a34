"""Pure-NumPy cointegration engine (no I/O), used by pairs (screens, spreads) and backtest.

Engle-Granger over whole universes (statsmodels ``coint`` parity), Johansen for pairs, hedge
ratios (OLS, TLS, rolling OLS, Kalman), spread diagnostics and the universe screen.
"""

from core.cointegration.blocks import (
    BlockInput,
    BlockStats,
    ScreenArrays,
    ScreenOptions,
    block_input,
    n_pairs,
    pair_blocks,
    pair_shard,
    screen_block,
)
from core.cointegration.diagnostics import (
    StabilityResult,
    benjamini_hochberg,
    cointegration_stability,
    half_life,
    hurst_exponent,
)
from core.cointegration.engle_granger import (
    Autolag,
    EngleGrangerResult,
    default_maxlag,
    engle_granger,
    engle_granger_all_pairs,
)
from core.cointegration.hedge import (
    HedgeFit,
    ols_hedge_ratio,
    rolling_ols_hedge_ratio,
    tls_hedge_ratio,
)
from core.cointegration.johansen import JohansenResult, johansen_pairs
from core.cointegration.kalman import KalmanHedgeRatio, KalmanPath, KalmanStep
from core.cointegration.mackinnon import mackinnon_critical_values, mackinnon_pvalue
from core.cointegration.screen import (
    PairScreenResult,
    ScreenTable,
    screen_arrays,
    screen_table,
    screen_universe,
)
from core.cointegration.sharded import (
    screen_arrays_sharded,
    screen_table_sharded,
    screen_universe_sharded,
)

__all__ = [
    "Autolag",
    "BlockInput",
    "BlockStats",
    "EngleGrangerResult",
    "HedgeFit",
    "JohansenResult",
    "KalmanHedgeRatio",
    "KalmanPath",
    "KalmanStep",
    "PairScreenResult",
    "ScreenArrays",
    "ScreenOptions",
    "ScreenTable",
    "StabilityResult",
    "benjamini_hochberg",
    "block_input",
    "cointegration_stability",
    "default_maxlag",
    "engle_granger",
    "engle_granger_all_pairs",
    "half_life",
    "hurst_exponent",
    "johansen_pairs",
    "mackinnon_critical_values",
    "mackinnon_pvalue",
    "n_pairs",
    "ols_hedge_ratio",
    "pair_blocks",
    "pair_shard",
    "rolling_ols_hedge_ratio",
    "screen_arrays",
    "screen_arrays_sharded",
    "screen_block",
    "screen_table",
    "screen_table_sharded",
    "screen_universe",
    "screen_universe_sharded",
    "tls_hedge_ratio",
]
