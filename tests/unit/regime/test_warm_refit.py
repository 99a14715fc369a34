"""The warm refit (previous parameters *and* curvature) against statsmodels' own fit.

The tracker refits on windows that overlap almost entirely; `fit_regime_model` with
`start_hess_inv` seeds BFGS with the previous fit's inverse Hessian. statsmodels' fit from the
same start parameters is the oracle: same optimum, same log-likelihood.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import FittedRegimeModel, RegimeModelSpec, fit_regime_model
from core.regime.fitting import statsmodels_model
from tests.data import wide_20_stocks

SPEC = RegimeModelSpec(k_regimes=2, switching_mean=True, switching_variance=True)
WINDOW, STEP = 756, 63


@pytest.fixture(scope="module")
def universe_returns() -> np.ndarray:
    """Equal-weight daily log return of the bundled 20 stocks (the demo's market series)."""
    closes = wide_20_stocks()
    return np.log(closes).diff().mean(axis=1).dropna().to_numpy()


def _windows(returns: np.ndarray, count: int) -> list[np.ndarray]:
    return [returns[i * STEP : i * STEP + WINDOW] for i in range(count)]


def test_warm_refits_reach_statsmodels_optimum(universe_returns: np.ndarray) -> None:
    windows = _windows(universe_returns, 6)
    previous = fit_regime_model(windows[0], SPEC)
    assert previous.optimizer_hess_inv is not None
    for window in windows[1:]:
        start = previous.statsmodels_params()
        oracle = statsmodels_model(window, SPEC).fit(start_params=start, disp=False)
        warm = fit_regime_model(
            window, SPEC, start_params=start, start_hess_inv=previous.hess_inv_matrix()
        )
        assert warm.llf == pytest.approx(float(oracle.llf), abs=1e-4)
        oracle_model = FittedRegimeModel.from_raw_params(
            SPEC,
            dict(zip(oracle.model.param_names, map(float, oracle.params), strict=True)),
            llf=float(oracle.llf),
            nobs=int(oracle.nobs),
            data_sha256=warm.data_sha256,
        )
        assert_allclose(warm.statsmodels_params(), oracle_model.statsmodels_params(), rtol=2e-3)
        # Never worse than where it started.
        assert warm.llf >= float(statsmodels_model(window, SPEC).loglike(start)) - 1e-9
        previous = warm


def test_unusable_curvature_falls_back_to_statsmodels_fit(universe_returns: np.ndarray) -> None:
    first, second = _windows(universe_returns, 2)
    start = fit_regime_model(first, SPEC).statsmodels_params()
    plain = fit_regime_model(second, SPEC, start_params=start)
    indefinite = -np.eye(len(start))
    fallback = fit_regime_model(second, SPEC, start_params=start, start_hess_inv=indefinite)
    assert fallback == plain


def test_curvature_survives_json_but_is_not_part_of_the_version(
    universe_returns: np.ndarray,
) -> None:
    model = fit_regime_model(_windows(universe_returns, 1)[0], SPEC)
    again = FittedRegimeModel.from_json(model.to_json())
    assert again == model
    matrix = again.hess_inv_matrix()
    assert matrix is not None and matrix.shape == (6, 6)
    without = FittedRegimeModel.from_raw_params(
        SPEC, model.params, llf=model.llf, nobs=model.nobs, data_sha256=model.data_sha256
    )
    assert without.optimizer_hess_inv is None
    assert without.version == model.version


def test_relabelled_fit_drops_the_curvature() -> None:
    # Regime 0 has the larger variance in the optimiser's order: labels are swapped, and the
    # unconstrained transition coordinates do not map by a permutation.
    raw = {"p[0->0]": 0.9, "p[1->0]": 0.2, "const[0]": 0.0, "const[1]": 0.0,
           "sigma2[0]": 4.0, "sigma2[1]": 1.0}  # fmt: skip
    model = FittedRegimeModel.from_raw_params(
        SPEC, raw, llf=0.0, nobs=10, data_sha256="x", hess_inv=np.eye(6)
    )
    assert model.statsmodels_regime_of_label == (1, 0)
    assert model.optimizer_hess_inv is None
