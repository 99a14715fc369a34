"""Hedge-ratio estimators vs statsmodels OLS / RollingOLS / state-space filter and an SVD."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import statsmodels.api as sm
from statsmodels.regression.rolling import RollingOLS

from core.cointegration.hedge import (
    ols_hedge_ratio,
    rolling_ols_hedge_ratio,
    tls_hedge_ratio,
)
from core.cointegration.kalman import KalmanHedgeRatio
from tests.unit.pairs.synthetic import random_universe


@pytest.fixture(scope="module")
def legs() -> tuple[np.ndarray, np.ndarray]:
    log_p = np.log(random_universe(21, n_bars=400, n_symbols=4))
    return log_p[:, [1, 3]], log_p[:, [0, 2]]  # (y, x) for two pairs


def test_ols_matches_statsmodels(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs
    fit = ols_hedge_ratio(y, x)
    for j in range(2):
        params = sm.OLS(y[:, j], sm.add_constant(x[:, j])).fit().params
        assert fit.hedge_ratio[j] == pytest.approx(params[1], rel=1e-10)
        assert fit.intercept[j] == pytest.approx(params[0], rel=1e-9, abs=1e-12)


def test_tls_matches_smallest_singular_vector(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs
    fit = tls_hedge_ratio(y, x)
    for j in range(2):
        cloud = np.column_stack([x[:, j] - x[:, j].mean(), y[:, j] - y[:, j].mean()])
        normal = np.linalg.svd(cloud, full_matrices=False)[2][-1]  # orthogonal to the fit line
        assert fit.hedge_ratio[j] == pytest.approx(-normal[0] / normal[1], rel=1e-9)
    # TLS is symmetric: regressing x on y gives the reciprocal slope, unlike OLS.
    back = tls_hedge_ratio(x, y)
    np.testing.assert_allclose(back.hedge_ratio, 1.0 / fit.hedge_ratio, rtol=1e-10)


def test_rolling_ols_matches_statsmodels(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs
    fit = rolling_ols_hedge_ratio(y, x, window=60)
    for j in range(2):
        ref = RollingOLS(y[:, j], sm.add_constant(x[:, j]), window=60).fit().params
        # Windowed sums come from cumulative sums: agreement is ~1e-8, not machine precision.
        np.testing.assert_allclose(fit.hedge_ratio[:, j], ref[:, 1], rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(fit.intercept[:, j], ref[:, 0], rtol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="window"):
        rolling_ols_hedge_ratio(y, x, window=2)


# statsmodels warns on its own two-bar rows (no residual degrees of freedom).
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
def test_expanding_rolling_ols_matches_statsmodels(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs
    fit = rolling_ols_hedge_ratio(y, x, window=60, expanding=True)
    for j in range(2):
        ref = RollingOLS(y[:, j], sm.add_constant(x[:, j]), window=60, expanding=True).fit()
        np.testing.assert_allclose(
            fit.hedge_ratio[:, j], ref.params[:, 1], rtol=1e-6, equal_nan=True
        )
        np.testing.assert_allclose(fit.intercept[:, j], ref.params[:, 0], rtol=1e-6, equal_nan=True)
    # Longer than the history: every row expands.
    whole = rolling_ols_hedge_ratio(y[:50, 0], x[:50, 0], window=60, expanding=True)
    np.testing.assert_allclose(
        whole.hedge_ratio, fit.hedge_ratio[:50, 0], rtol=1e-9, equal_nan=True
    )


def test_flat_hedge_leg_has_no_hedge_ratio() -> None:
    x = np.array([5.0, 5.0, 5.0, 5.0, 6.0, 7.0])
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    fit = rolling_ols_hedge_ratio(y, x, window=3, expanding=True)
    assert np.isnan(fit.hedge_ratio[:4]).all()
    assert np.isfinite(fit.hedge_ratio[4:]).all()


def _statespace_reference(
    x: np.ndarray, y: np.ndarray, q: np.ndarray, r: float, a0: np.ndarray, p0: np.ndarray
) -> Any:
    t_len = x.size
    # statsmodels' known initialisation is the prediction for the first bar: add one step of Q.
    mod = sm.tsa.statespace.MLEModel(
        y,
        k_states=2,
        k_posdef=2,
        initialization="known",
        initial_state=a0,
        initial_state_cov=p0 + q,
    )
    design = np.zeros((1, 2, t_len))
    design[0, 0] = x
    design[0, 1] = 1.0
    mod["design"] = design
    mod["obs_cov"] = np.array([[r]])
    mod["transition"] = np.eye(2)
    mod["selection"] = np.eye(2)
    mod["state_cov"] = q
    return mod.ssm.filter()


def test_kalman_matches_statsmodels_state_space(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs[0][:, 0], legs[1][:, 0]
    q = np.array([[1e-5, 2e-7], [2e-7, 1e-4]])
    r, a0, p0 = 1e-3, np.array([0.8, 0.1]), np.diag([1.0, 4.0])
    path = KalmanHedgeRatio(state_cov=q, obs_var=r, initial_state=a0, initial_cov=p0).run(x, y)
    ref = _statespace_reference(x, y, q, r, a0, p0)
    np.testing.assert_allclose(path.forecast_error, ref.forecasts_error[0], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(path.forecast_variance, ref.forecasts_error_cov[0, 0], rtol=1e-9)
    np.testing.assert_allclose(path.hedge_ratio, ref.filtered_state[0], rtol=1e-8)
    np.testing.assert_allclose(path.intercept, ref.filtered_state[1], rtol=1e-8, atol=1e-12)
    cov = np.moveaxis(ref.filtered_state_cov, -1, 0)
    np.testing.assert_allclose(path.state_cov, cov, rtol=1e-7, atol=1e-15)


def test_kalman_online_updates_equal_batch_run(legs: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = legs[0][:50, 1], legs[1][:50, 1]
    online = KalmanHedgeRatio(delta=1e-4, obs_var=1e-4)
    steps = [online.update(float(a), float(b)) for a, b in zip(x, y, strict=True)]
    batch = KalmanHedgeRatio(delta=1e-4, obs_var=1e-4).run(x, y)
    np.testing.assert_array_equal([s.hedge_ratio for s in steps], batch.hedge_ratio)
    np.testing.assert_array_equal([s.forecast_error for s in steps], batch.forecast_error)
    np.testing.assert_array_equal(online.state, [batch.hedge_ratio[-1], batch.intercept[-1]])


def test_kalman_tracks_a_hedge_ratio_change() -> None:
    rng = np.random.default_rng(4)
    x = np.cumsum(0.2 * rng.standard_normal(600))  # wide range: slope and intercept separable
    beta = np.where(np.arange(600) < 300, 0.5, 1.5)
    y = beta * x + 0.005 * rng.standard_normal(600)
    path = KalmanHedgeRatio(delta=1e-3, obs_var=1e-4).run(x, y)
    assert path.hedge_ratio[280] == pytest.approx(0.5, abs=0.1)
    assert path.hedge_ratio[-1] == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"delta": 1.0}, "delta"), ({"obs_var": 0.0}, "obs_var"), ({"state_cov": -np.eye(2)}, "semi")],
)
def test_kalman_rejects_bad_parameters(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        KalmanHedgeRatio(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-finite"):
        KalmanHedgeRatio().update(float("nan"), 1.0)
