"""One Python client for every TITAN service: `Titan` (sync) and `AsyncTitan` (async).

    from titan.client import Titan

    with Titan() as t:                      # finds the services of `titan up` / demo
        t.pairs.list(state="active")        # DataFrame
        t.pairs.test("KO", "PEP", start="2015-01-01", end="2020-12-31").pvalue
        t.backtest.run("KO", "PEP", start="2010-01-01", end="2020-01-01").metrics

Namespaces: market_data, pairs, regime, signals, backtest, params. Errors are the typed
exceptions of `titan.client.errors`, each with the service's own message.
"""

from titan.client.aio import AsyncTitan
from titan.client.errors import (
    BacktestFailed,
    Conflict,
    InvalidRequest,
    NotFound,
    ServiceError,
    ServiceUnavailable,
    TitanError,
    TitanTimeout,
    Unauthorized,
)
from titan.client.results import (
    BacktestJob,
    BacktestResult,
    PairDetail,
    PairRecord,
    PairStability,
    PairTest,
    RegimeFit,
    ScreenRequest,
)
from titan.client.sync import ClientClosed, Titan

__all__ = [
    "AsyncTitan",
    "BacktestFailed",
    "BacktestJob",
    "BacktestResult",
    "ClientClosed",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "PairDetail",
    "PairRecord",
    "PairStability",
    "PairTest",
    "RegimeFit",
    "ScreenRequest",
    "ServiceError",
    "ServiceUnavailable",
    "Titan",
    "TitanError",
    "TitanTimeout",
    "Unauthorized",
]
