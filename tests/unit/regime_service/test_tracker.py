"""Per-scope tracker: scheduled fits, stable labels across refits, exact restore."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.regime import (
    OnlineHamiltonFilter,
    RefitPolicy,
    ScopeStep,
    ScopeTracker,
    fit_regime_model,
)
from services.regime.domain import SpreadInput
from tests.unit.regime_service.builders import day, switching_returns, tracker_config

SEGMENTS = [(150, 1.0), (60, 3.0), (90, 1.0), (60, 3.5), (40, 1.0)]


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    return switching_returns(11, SEGMENTS)


@pytest.fixture(scope="module")
def continuous(series: np.ndarray) -> list[ScopeStep]:
    tracker = ScopeTracker("market", tracker_config())
    steps = [tracker.observe(day(i), float(v)) for i, v in enumerate(series)]
    assert all(s is not None for s in steps)
    return [s for s in steps if s is not None]


def test_fits_follow_the_bar_schedule_on_the_trailing_window(
    series: np.ndarray, continuous: list[ScopeStep]
) -> None:
    cfg = tracker_config()
    fit_bars = [i for i, s in enumerate(continuous) if s.fitted is not None]
    first = cfg.refit.min_bars - 1
    assert fit_bars == list(range(first, len(series), cfg.refit.every_bars))
    i = fit_bars[-1]
    step = continuous[i]
    assert step.window == (day(i - cfg.refit.window_bars + 1), day(i))
    assert step.fitted is not None and step.fitted.nobs == cfg.refit.window_bars
    assert all(s.probabilities is None for s in continuous[:first])


def test_filter_between_fits_equals_offline_filter_of_the_window(
    series: np.ndarray, continuous: list[ScopeStep]
) -> None:
    cfg = tracker_config()
    fit_at = cfg.refit.min_bars - 1 + cfg.refit.every_bars
    model = continuous[fit_at].fitted
    assert model is not None
    start = max(0, fit_at + 1 - cfg.refit.window_bars)
    end = fit_at + cfg.refit.every_bars  # last bar filtered with this model
    offline = OnlineHamiltonFilter(model).run(series[start:end])
    online = np.array([continuous[i].probabilities for i in range(fit_at, end)])
    np.testing.assert_allclose(online, offline[fit_at - start :], rtol=0, atol=1e-12)


def test_refit_keeps_labels(series: np.ndarray, continuous: list[ScopeStep]) -> None:
    fits = [s for s in continuous if s.fitted is not None]
    assert len(fits) >= 3
    for s in fits:
        assert s.fitted is not None
        assert s.fitted.variances[0] < s.fitted.variances[1]  # label 0 = low_vol
    # Around every refit the most probable label does not flip because of the refit alone:
    # the new model's probability at the refit bar agrees with the old model's call.
    for i, s in enumerate(continuous):
        if s.fitted is not None and continuous[i - 1].probabilities is not None:
            prev = continuous[i - 1]
            assert prev.label is not None and s.label is not None
            if max(prev.probabilities or ()) > 0.95 and max(s.probabilities or ()) > 0.95:
                assert prev.label == s.label
    # And the declared regimes follow the true volatility segments.
    regimes = [s.regime for s in continuous]
    bounds = np.cumsum([n for n, _ in SEGMENTS])
    assert regimes[bounds[1] - 1] == 1  # end of the first high-vol segment
    assert regimes[bounds[2] - 1] == 0
    assert regimes[bounds[3] - 1] == 1


def test_shifts_are_declared_with_hysteresis(continuous: list[ScopeStep]) -> None:
    shifts = [(i, s.shift) for i, s in enumerate(continuous) if s.shift is not None]
    assert shifts, "the synthetic series switches regime"
    for i, shift in shifts:
        assert shift is not None
        assert continuous[i].regime == shift.to_regime
        window = continuous[i - 2 : i + 1]  # min_bars = 3 consecutive bars above 0.8
        assert all((w.probabilities or (0, 0))[shift.to_regime] > 0.8 for w in window)


@pytest.mark.parametrize("cut", [119, 333])
def test_restore_equals_continuous_run(
    series: np.ndarray, continuous: list[ScopeStep], cut: int
) -> None:
    cfg = tracker_config()
    tracker = ScopeTracker("market", cfg)
    for i in range(cut):
        tracker.observe(day(i), float(series[i]))
    state = json.loads(json.dumps(tracker.state_dict()))
    window = list(tracker.window)
    restored = ScopeTracker.restore("market", cfg, state, window)
    resumed = [restored.observe(day(i), float(series[i])) for i in range(cut, len(series))]
    assert resumed == continuous[cut:]


def test_replayed_observation_is_ignored(series: np.ndarray) -> None:
    tracker = ScopeTracker("market", tracker_config())
    tracker.observe(day(0), 1.0)
    assert tracker.observe(day(0), 2.0) is None
    assert tracker.observations == 1


def test_refit_policy_validation_and_due() -> None:
    with pytest.raises(ValueError, match="min_bars"):
        RefitPolicy(every_bars=5, window_bars=10, min_bars=20)
    with pytest.raises(ValueError, match="needed to fit"):
        tracker_config(min_bars=5, window=50)
    policy = RefitPolicy(every_bars=5, window_bars=100, min_bars=50)
    assert not policy.is_due(49, None)
    assert policy.is_due(50, None)
    assert not policy.is_due(54, 50)
    assert policy.is_due(55, 50)


def test_tracker_fit_equals_direct_fit(series: np.ndarray, continuous: list[ScopeStep]) -> None:
    cfg = tracker_config()
    first = cfg.refit.min_bars - 1
    direct = fit_regime_model(series[: first + 1][-cfg.refit.window_bars :], cfg.spec)
    assert continuous[first].fitted == direct


def test_spread_change_is_remeasured_with_the_new_hedge_ratio() -> None:
    def point(i: int, pa: float, pb: float, beta: float) -> SpreadInput:
        return SpreadInput(day(i), float(np.log(pa) - beta * np.log(pb)), pa, pb, beta, 0.0)

    a, b = point(0, 50.0, 40.0, 1.0), point(1, 51.0, 40.5, 1.2)
    expected = (np.log(51.0) - 1.2 * np.log(40.5)) - (np.log(50.0) - 1.2 * np.log(40.0))
    assert a.change_to(b) == pytest.approx(expected, abs=1e-12)
    c = point(2, 52.0, 41.0, 1.2)
    assert b.change_to(c) == c.spread - b.spread
    odd = SpreadInput(day(3), 0.5, 52.0, 41.0, 1.5, 0.0)  # not the log definition: plain diff
    assert c.change_to(odd) == 0.5 - c.spread
    assert SpreadInput.from_dict(json.loads(json.dumps(c.to_dict()))) == c
