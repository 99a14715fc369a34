"""Walk-forward regime labels are causal: a bar's label never depends on later bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from core.regime import RefitPolicy, ShiftDetectorSettings
from services.backtest.domain.regimes import label_regimes, trailing_hedge_spread_changes
from tests.data import wide_20_stocks

# A short schedule so a test run costs a few fits.
REFIT = RefitPolicy(every_bars=63, window_bars=300, min_bars=250)


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return wide_20_stocks().iloc[:900]


@pytest.mark.parametrize("source", ["market", "pair_spread"])
def test_labels_of_a_prefix_equal_the_labels_of_the_whole_history(
    closes: pd.DataFrame, source: str
) -> None:
    a, b = closes["XOM"].to_numpy(), closes["CVX"].to_numpy()
    whole = label_regimes(a, b, source, ShiftDetectorSettings(), REFIT)
    assert whole.labels is not None and len(whole.labels) == len(a)
    assert set(np.unique(whole.labels)) <= {0, 1}
    cut = 700
    prefix = label_regimes(a[:cut], b[:cut], source, ShiftDetectorSettings(), REFIT)
    assert prefix.labels is not None
    np.testing.assert_array_equal(prefix.labels, whole.labels[:cut])


def test_trailing_hedge_matches_statsmodels_ols_on_the_bars_before(closes: pd.DataFrame) -> None:
    a, b = closes["KO"].to_numpy(), closes["PEP"].to_numpy()
    window = 120
    changes = trailing_hedge_spread_changes(a, b, window)
    assert changes.shape == (len(a) - 1,)
    for t in (30, window, 400, len(a) - 1):  # the change into bar t is changes[t - 1]
        lo = max(0, t - window)
        fit = sm.OLS(a[lo:t], sm.add_constant(b[lo:t])).fit()
        beta = float(fit.params[1])
        expected = (a[t] - a[t - 1]) - beta * (b[t] - b[t - 1])
        assert changes[t - 1] == pytest.approx(expected, rel=1e-7, abs=1e-9)


def test_too_short_a_history_gets_one_regime(closes: pd.DataFrame) -> None:
    a, b = closes["XOM"].to_numpy()[:100], closes["CVX"].to_numpy()[:100]
    labels = label_regimes(a, b, "market", ShiftDetectorSettings(), REFIT)
    assert labels.labels is None and labels.note is not None and "too few" in labels.note
