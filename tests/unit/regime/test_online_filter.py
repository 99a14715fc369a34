"""Online filter mechanics: warm-up, resumable state, bad input, predicted probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import (
    FittedRegimeModel,
    OnlineHamiltonFilter,
    RegimeModelSpec,
    statsmodels_model,
)
from tests.unit.regime.statsmodels_reference import HAMILTON_AR4_PARAMS, RGNP

SPEC = RegimeModelSpec(k_regimes=2, order=4, switching_variance=False)


@pytest.fixture(scope="module")
def hamilton() -> FittedRegimeModel:
    names = statsmodels_model(RGNP, SPEC).param_names
    raw = dict(zip(names, HAMILTON_AR4_PARAMS, strict=True))
    return FittedRegimeModel.from_raw_params(SPEC, raw, llf=0.0, nobs=131, data_sha256="ref")


def test_autoregressive_warm_up_returns_none(hamilton: FittedRegimeModel) -> None:
    online = OnlineHamiltonFilter(hamilton)
    assert [online.update(y) for y in RGNP[:4]] == [None] * 4
    assert online.filtered_probabilities is None
    first = online.update(RGNP[4])
    assert first is not None
    assert first.sum() == pytest.approx(1.0)


def test_resumed_state_continues_exactly(hamilton: FittedRegimeModel) -> None:
    continuous = OnlineHamiltonFilter(hamilton)
    expected = continuous.run(RGNP)
    first = OnlineHamiltonFilter(hamilton)
    head = first.run(RGNP[:70])
    resumed = OnlineHamiltonFilter.resume(hamilton, first.state())
    tail = resumed.run(RGNP[70:])
    assert_allclose(np.vstack([head, tail]), expected, atol=1e-14, equal_nan=True)
    assert resumed.log_likelihood == pytest.approx(continuous.log_likelihood, abs=1e-10)


def test_resume_refuses_state_of_another_model(hamilton: FittedRegimeModel) -> None:
    other_raw = {**hamilton.params, "sigma2": 0.7}
    other = FittedRegimeModel.from_raw_params(SPEC, other_raw, 0.0, 131, "ref")
    state = OnlineHamiltonFilter(other).state()
    with pytest.raises(ValueError, match="state is for model"):
        OnlineHamiltonFilter.resume(hamilton, state)


def test_predicted_probabilities_match_statsmodels(hamilton: FittedRegimeModel) -> None:
    oracle = statsmodels_model(RGNP, SPEC).filter(hamilton.statsmodels_params())
    online = OnlineHamiltonFilter(hamilton)
    online.run(RGNP[:60])
    # statsmodels' predicted_marginal_probabilities[t] is Pr(S_t | Y_{t-1}); row 60-4 is bar 60.
    assert_allclose(
        online.predicted_probabilities(), oracle.predicted_marginal_probabilities[56], atol=1e-10
    )


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_observation_is_rejected(hamilton: FittedRegimeModel, bad: float) -> None:
    online = OnlineHamiltonFilter(hamilton)
    with pytest.raises(ValueError, match="finite"):
        online.update(bad)
