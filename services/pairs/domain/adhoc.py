"""On-demand Engle-Granger test of two symbols' closes (HTTP /pairs/test, `titan pairs test`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from core.cointegration import Autolag, screen_universe

MIN_TEST_BARS = 30


class PairTestInputError(ValueError):
    """The two series cannot be tested; the message says why."""


@dataclass(frozen=True)
class PairTestReport:
    a: str
    b: str
    start: datetime
    end: datetime
    n_obs: int
    hedge_ratio: float
    intercept: float
    adf_stat: float
    pvalue: float
    lag: int
    half_life: float | None
    hurst: float | None
    crit_values: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {
            "pair_id": f"{self.a}~{self.b}",
            "a": self.a,
            "b": self.b,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "n_obs": self.n_obs,
            "hedge_ratio": self.hedge_ratio,
            "intercept": self.intercept,
            "adf_stat": self.adf_stat,
            "pvalue": self.pvalue,
            "lag": self.lag,
            "half_life": self.half_life,
            "hurst": self.hurst,
            "crit_values": self.crit_values,
            "cointegrated_5pct": self.pvalue < 0.05,
        }


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def run_pair_test(
    a: str,
    b: str,
    series_a: list[tuple[datetime, float]],
    series_b: list[tuple[datetime, float]],
    *,
    autolag: Autolag = "aic",
    maxlag: int | None = None,
) -> PairTestReport:
    """Test on the bar times both symbols have (log prices); the report's a is the leg the
    engine found the better dependent (it tries both orderings)."""
    if a == b:
        raise PairTestInputError(f"a and b must differ, got {a!r} twice")
    prices_b = dict(series_b)
    common = [(t, pa, prices_b[t]) for t, pa in series_a if t in prices_b]
    bad = [t for t, pa, pb in common if not (pa > 0 and pb > 0)]
    if bad:
        raise PairTestInputError(f"non-positive close at {bad[0].isoformat()}")
    if len(common) < MIN_TEST_BARS:
        raise PairTestInputError(
            f"too few bars: {a} has {len(series_a)}, {b} has {len(series_b)}, "
            f"{len(common)} in common; need at least {MIN_TEST_BARS}"
        )
    prices = np.array([[pa, pb] for _, pa, pb in common], dtype=np.float64)
    (r,) = screen_universe(prices, [a, b], window=None, autolag=autolag, maxlag=maxlag)
    return PairTestReport(
        a=r.a,
        b=r.b,
        start=common[0][0],
        end=common[-1][0],
        n_obs=len(common),
        hedge_ratio=r.hedge_ratio,
        intercept=r.intercept,
        adf_stat=r.adf_stat,
        pvalue=r.pvalue,
        lag=r.lag,
        half_life=_finite(r.half_life),
        hurst=_finite(r.hurst),
        crit_values={"1%": r.crit_1pct, "5%": r.crit_5pct, "10%": r.crit_10pct},
    )
