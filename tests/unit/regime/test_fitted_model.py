"""FittedRegimeModel: canonical labels, deterministic version, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

from core.regime import (
    FittedRegimeModel,
    RegimeModelSpec,
    statsmodels_model,
    statsmodels_param_names,
)

SPEC = RegimeModelSpec(k_regimes=2, switching_mean=True, switching_variance=True)
RAW = {
    "p[0->0]": 0.9,
    "p[1->0]": 0.2,
    "const[0]": -0.1,
    "const[1]": 0.05,
    "sigma2[0]": 4.0,  # statsmodels found the high-variance regime first
    "sigma2[1]": 1.0,
}


def _model(raw: dict[str, float] = RAW, nobs: int = 500) -> FittedRegimeModel:
    return FittedRegimeModel.from_raw_params(SPEC, raw, llf=-123.4, nobs=nobs, data_sha256="ab")


@pytest.mark.parametrize(
    "spec",
    [
        RegimeModelSpec(k_regimes=2),
        RegimeModelSpec(k_regimes=3, switching_mean=False, switching_variance=True),
        RegimeModelSpec(k_regimes=2, order=4, switching_variance=False),
        RegimeModelSpec(k_regimes=3, order=2, switching_variance=False, switching_ar=True),
        RegimeModelSpec(k_regimes=2, order=1, switching_variance=True, switching_ar=True),
    ],
)
def test_param_names_follow_statsmodels(spec: RegimeModelSpec) -> None:
    data = np.random.default_rng(0).normal(size=60)
    assert statsmodels_param_names(spec) == list(statsmodels_model(data, spec).param_names)


def test_labels_are_ordered_by_variance_lowest_first() -> None:
    model = _model()
    assert model.statsmodels_regime_of_label == (1, 0)
    assert_allclose(model.variances, [1.0, 4.0])
    assert_allclose(model.means, [0.05, -0.1])
    # Pr(stay) moves with its regime: raw regime 1 stays with 1 - 0.2 = 0.8.
    assert_allclose(model.transition_matrix, [[0.8, 0.2], [0.1, 0.9]])
    assert model.params["p[0->0]"] == pytest.approx(0.8)
    assert model.params["p[1->0]"] == pytest.approx(0.1)


def test_equal_variances_are_ordered_by_mean() -> None:
    spec = RegimeModelSpec(k_regimes=2, switching_variance=False)
    raw = {"p[0->0]": 0.9, "p[1->0]": 0.2, "const[0]": 2.0, "const[1]": -1.0, "sigma2": 1.0}
    model = FittedRegimeModel.from_raw_params(spec, raw, llf=0.0, nobs=10, data_sha256="x")
    assert model.statsmodels_regime_of_label == (1, 0)
    assert_allclose(model.means, [-1.0, 2.0])


def test_version_is_deterministic_and_tracks_inputs() -> None:
    assert _model().version == _model().version
    assert _model().version.startswith("markov_regression-k2-p0-")
    assert _model(nobs=501).version != _model().version
    assert _model({**RAW, "const[0]": -0.1000001}).version != _model().version


def test_json_round_trip_preserves_everything() -> None:
    model = _model()
    text = model.to_json()
    again = FittedRegimeModel.from_json(text)
    assert again == model
    payload = json.loads(text)
    assert payload["kind"] == "markov_regression"
    assert payload["transition_matrix"] == model.transition_matrix.tolist()
    assert payload["params"] == model.params


def test_json_with_tampered_params_is_rejected() -> None:
    payload = json.loads(_model().to_json())
    payload["params"]["sigma2[1]"] = 5.0
    with pytest.raises(ValueError, match="version mismatch"):
        FittedRegimeModel.from_dict(payload)
    del payload["params"]["sigma2[1]"]
    with pytest.raises(ValueError, match="lacks params"):
        FittedRegimeModel.from_dict(payload)


def test_model_is_frozen() -> None:
    model = _model()
    with pytest.raises(AttributeError):
        model.llf = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k_regimes": 1}, "k_regimes"),
        ({"order": -1}, "order"),
        ({"order": 0, "switching_ar": True}, "switching_ar"),
    ],
)
def test_invalid_specs_are_refused(kwargs: dict[str, int | bool], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RegimeModelSpec(**kwargs)  # type: ignore[arg-type]
