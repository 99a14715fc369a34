"""The online filter against statsmodels (the oracle) on statsmodels' own reference data."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import (
    FittedRegimeModel,
    OnlineHamiltonFilter,
    RegimeModelSpec,
    data_fingerprint,
    fit_regime_model,
    statsmodels_model,
)
from tests.unit.regime.statsmodels_reference import (
    FEDFUNDS,
    FEDFUNDS_CONST_LLF,
    FEDFUNDS_CONST_PARAMS,
    HAMILTON_AR4_LLF,
    HAMILTON_AR4_PARAMS,
    RGNP,
)

HAMILTON_SPEC = RegimeModelSpec(k_regimes=2, order=4, switching_variance=False)
FEDFUNDS_SPEC = RegimeModelSpec(k_regimes=2, order=0, switching_variance=False)
CASES = {
    "hamilton_ar4": (RGNP, HAMILTON_SPEC, HAMILTON_AR4_PARAMS, HAMILTON_AR4_LLF),
    "fedfunds_const": (FEDFUNDS, FEDFUNDS_SPEC, FEDFUNDS_CONST_PARAMS, FEDFUNDS_CONST_LLF),
}


def _model_at(
    spec: RegimeModelSpec, data: tuple[float, ...], params: tuple[float, ...]
) -> FittedRegimeModel:
    names = statsmodels_model(data, spec).param_names
    return FittedRegimeModel.from_raw_params(
        spec, dict(zip(names, params, strict=True)), llf=0.0, nobs=len(data), data_sha256="ref"
    )


@pytest.fixture(scope="module")
def fitted() -> dict[str, FittedRegimeModel]:
    return {
        "hamilton_ar4": fit_regime_model(RGNP, HAMILTON_SPEC, start_params=HAMILTON_AR4_PARAMS),
        "fedfunds_const": fit_regime_model(FEDFUNDS, FEDFUNDS_SPEC),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_online_filter_reproduces_statsmodels_at_reference_params(case: str) -> None:
    data, spec, params, reference_llf = CASES[case]
    oracle = statsmodels_model(data, spec).filter(np.asarray(params))
    model = _model_at(spec, data, params)
    online = OnlineHamiltonFilter(model)
    filtered = online.run(data)
    assert np.isnan(filtered[: spec.order]).all()
    # The reference parameters already have regime 0 as the lower-mean regime: no relabelling.
    assert model.statsmodels_regime_of_label == (0, 1)
    assert_allclose(
        filtered[spec.order :], oracle.filtered_marginal_probabilities, atol=1e-6, rtol=0
    )
    assert online.log_likelihood == pytest.approx(oracle.llf, abs=1e-8)
    assert online.log_likelihood == pytest.approx(reference_llf, abs=1e-5)


def test_hamilton_reference_transition_probabilities() -> None:
    model = _model_at(HAMILTON_SPEC, RGNP, HAMILTON_AR4_PARAMS)
    assert model.transition_matrix[0, 0] == pytest.approx(0.754673)
    assert model.transition_matrix[1, 0] == pytest.approx(0.095915)
    assert_allclose(model.transition_matrix.sum(axis=1), 1.0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_reaches_reference_log_likelihood(
    case: str, fitted: dict[str, FittedRegimeModel]
) -> None:
    data, spec, _, reference_llf = CASES[case]
    model = fitted[case]
    assert model.llf == pytest.approx(reference_llf, abs=1e-5, rel=1e-7)
    assert model.nobs == len(data) - spec.order
    assert model.data_sha256 == data_fingerprint(data)


@pytest.mark.parametrize("case", sorted(CASES))
def test_online_filter_matches_statsmodels_at_fitted_params(
    case: str, fitted: dict[str, FittedRegimeModel]
) -> None:
    data, spec, _, _ = CASES[case]
    model = fitted[case]
    oracle = statsmodels_model(data, spec).filter(model.statsmodels_params())
    online = OnlineHamiltonFilter(model)
    filtered = online.run(data)
    assert_allclose(
        filtered[spec.order :], oracle.filtered_marginal_probabilities, atol=1e-6, rtol=0
    )
    assert online.log_likelihood == pytest.approx(model.llf, abs=1e-6)


def test_relabelled_params_filter_identically_to_statsmodels_raw_order() -> None:
    """Swap statsmodels' regime order by hand: the labelled output must not change."""
    data, spec, params = FEDFUNDS, FEDFUNDS_SPEC, FEDFUNDS_CONST_PARAMS
    p00, p10, c0, c1, sigma2 = params
    swapped = {
        "p[0->0]": 1 - p10,
        "p[1->0]": 1 - p00,
        "const[0]": c1,
        "const[1]": c0,
        "sigma2": sigma2,
    }
    model = FittedRegimeModel.from_raw_params(
        spec, swapped, llf=0.0, nobs=len(data), data_sha256="x"
    )
    assert model.statsmodels_regime_of_label == (1, 0)
    raw_oracle = statsmodels_model(data, spec).filter(np.array(list(swapped.values())))
    filtered = OnlineHamiltonFilter(model).run(data)
    assert_allclose(filtered, raw_oracle.filtered_marginal_probabilities[:, ::-1], atol=1e-6)
    assert_allclose(model.means, [c0, c1])


@pytest.mark.parametrize(
    ("spec", "params"),
    [
        (
            RegimeModelSpec(k_regimes=3, order=1, switching_variance=True, switching_ar=True),
            # p[i->0] x3, p[i->1] x3; const x3; sigma2 x3; ar.L1 x3 (variance 3.0 first, so
            # the labels must reorder statsmodels' regimes)
            [0.9, 0.05, 0.1, 0.05, 0.9, 0.1, 0.0, 1.0, -1.0, 3.0, 1.0, 0.5, 0.3, -0.2, 0.6],
        ),
        (
            RegimeModelSpec(k_regimes=3, order=2, switching_variance=False, switching_ar=True),
            [0.9, 0.05, 0.1, 0.05, 0.9, 0.1, 0.0, 1.0, -1.0, 1.5, 0.3, -0.2, 0.6, 0.1, 0.0, -0.3],
        ),
        (
            RegimeModelSpec(k_regimes=3, order=0, switching_mean=False, switching_variance=True),
            [0.95, 0.02, 0.03, 0.03, 0.95, 0.07, 0.1, 0.25, 1.0, 4.0],
        ),
    ],
)
def test_online_filter_matches_statsmodels_for_general_specs(
    spec: RegimeModelSpec, params: list[float]
) -> None:
    rng = np.random.default_rng(3)
    data = rng.standard_t(5, size=400) + np.repeat(rng.normal(0, 1, 8), 50)
    oracle = statsmodels_model(data, spec).filter(np.asarray(params))
    model = FittedRegimeModel.from_raw_params(
        spec, dict(zip(oracle.model.param_names, params, strict=True)), 0.0, 400, "x"
    )
    filtered = OnlineHamiltonFilter(model).run(data)
    # Label l is statsmodels' regime statsmodels_regime_of_label[l].
    expected = oracle.filtered_marginal_probabilities[:, list(model.statsmodels_regime_of_label)]
    assert_allclose(filtered[spec.order :], expected, atol=1e-6, rtol=0)
    assert np.all(np.diff(model.variances) >= 0)


def test_switching_variance_with_order_two_is_refused() -> None:
    with pytest.raises(ValueError, match="mis-broadcasts"):
        RegimeModelSpec(k_regimes=2, order=2, switching_variance=True)
