"""Batched Johansen statistics vs ``statsmodels.tsa.vector_ar.vecm.coint_johansen``."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.tsa.vector_ar.vecm import coint_johansen

from core.cointegration.johansen import johansen_pairs
from tests.data import crude
from tests.unit.pairs.synthetic import random_universe


@pytest.mark.parametrize("det_order", [-1, 0, 1])
@pytest.mark.parametrize("k_ar_diff", [0, 1, 3])
def test_matches_statsmodels(det_order: int, k_ar_diff: int) -> None:
    prices = random_universe(det_order + 10 * k_ar_diff + 5, n_bars=300, n_symbols=4)
    y, x = np.triu_indices(4, k=1)
    result = johansen_pairs(prices, y, x, det_order=det_order, k_ar_diff=k_ar_diff)
    for q in range(y.size):
        ref = coint_johansen(np.log(prices[:, [y[q], x[q]]]), det_order, k_ar_diff)
        np.testing.assert_allclose(result.trace_stat[q], ref.lr1, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(result.max_eig_stat[q], ref.lr2, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(result.eigenvalues[q], ref.eig, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(result.trace_crit, ref.cvt)
        np.testing.assert_allclose(result.max_eig_crit, ref.cvm)


def test_planted_pair_rejects_rank_zero() -> None:
    prices = random_universe(3, n_bars=500, n_symbols=4)
    result = johansen_pairs(prices, [0], [1], det_order=0, k_ar_diff=1)
    assert result.trace_stat[0, 0] > result.trace_crit[0, 2]  # 99 % level


def test_wti_brent_rejects_rank_zero() -> None:
    result = johansen_pairs(crude()[["WTI", "Brent"]].to_numpy(), [0], [1])
    assert result.trace_stat[0, 0] > result.trace_crit[0, 1]


def test_rejects_unknown_det_order() -> None:
    with pytest.raises(ValueError, match="det_order"):
        johansen_pairs(random_universe(0, 100, 4), [0], [1], det_order=2)
