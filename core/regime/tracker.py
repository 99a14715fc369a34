"""One scope's regime tracker: scheduled fit + online Hamilton filter + shift detector.

Per observation (one complete bar of the scope's series):
- when the refit policy is due (every `every_bars` observations once `min_bars` are in),
  the model is refitted on the trailing `window_bars` observations, starting from the
  previous parameters, and a fresh filter is run over that window, so its state at this bar
  is a pure function of (model, window): the same after a restart as in a continuous run;
- otherwise the filter advances by this one observation with the current parameters.
The detector is never reset at a refit: labels are canonical (ordered by variance), so a
regime keeps its label across fits and the hysteresis carries on.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from core.regime.fitted import FittedRegimeModel
from core.regime.fitting import fit_regime_model, min_observations
from core.regime.hamilton import FilterState, OnlineHamiltonFilter
from core.regime.scopes import RegimeScope, regime_names
from core.regime.shifts import RegimeShift, ShiftDetector, ShiftDetectorSettings
from core.regime.spec import RegimeModelSpec

log = logging.getLogger(__name__)

# Fits one window: (values, spec, start_params, start_hess_inv) -> model. The tracker calls
# it in-process by default; the regime service may hand it to a pool of processes, so that
# the scopes of one batch fit in parallel (their trackers are independent).
Fitter = Callable[[Any, RegimeModelSpec, Any, Any], FittedRegimeModel]


def fit_in_process(
    values: Any, spec: RegimeModelSpec, start_params: Any, start_hess_inv: Any
) -> FittedRegimeModel:
    return fit_regime_model(values, spec, start_params=start_params, start_hess_inv=start_hess_inv)


@dataclass(frozen=True, slots=True)
class RefitPolicy:
    """Fit every `every_bars` observations on the last `window_bars`, from `min_bars` on."""

    every_bars: int = 5
    window_bars: int = 1000
    min_bars: int = 250

    def __post_init__(self) -> None:
        if self.every_bars < 1:
            raise ValueError(f"every_bars must be >= 1, got {self.every_bars}")
        if self.min_bars < 1 or self.window_bars < self.min_bars:
            raise ValueError(
                f"need 1 <= min_bars <= window_bars, got {self.min_bars}, {self.window_bars}"
            )

    def is_due(self, observations: int, last_fit_at: int | None) -> bool:
        if observations < self.min_bars:
            return False
        return last_fit_at is None or observations - last_fit_at >= self.every_bars


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    kind: RegimeScope
    spec: RegimeModelSpec
    refit: RefitPolicy
    shifts: ShiftDetectorSettings

    def __post_init__(self) -> None:
        need = min_observations(self.spec)
        if self.refit.min_bars < need:
            raise ValueError(f"min_bars {self.refit.min_bars} < {need} needed to fit {self.spec}")

    @property
    def names(self) -> tuple[str, ...]:
        return regime_names(self.kind, self.spec)


@dataclass(frozen=True, slots=True)
class ScopeStep:
    """What one observation produced."""

    bar_time: datetime
    value: float
    probabilities: tuple[float, ...] | None
    label: int | None  # most probable label at this bar
    regime: int | None  # the detector's (hysteresis) regime after this bar
    model: FittedRegimeModel | None
    fitted: FittedRegimeModel | None  # set when a fit happened at this bar
    window: tuple[datetime, datetime] | None  # first and last bar_time of the fit window
    shift: RegimeShift | None


@dataclass
class ScopeTracker:
    scope: str
    config: TrackerConfig
    window: deque[tuple[datetime, float]] = field(default_factory=deque)
    observations: int = 0
    last_fit_at: int | None = None
    last_bar_time: datetime | None = None
    model: FittedRegimeModel | None = None
    filter: OnlineHamiltonFilter | None = None
    detector: ShiftDetector | None = None
    fit_failures: int = 0
    fitter: Fitter = fit_in_process  # how (not what) to fit: never part of the state

    def __post_init__(self) -> None:
        self.window = deque(self.window, maxlen=self.config.refit.window_bars)
        if self.detector is None:
            self.detector = ShiftDetector(self.config.shifts)

    def observe(self, bar_time: datetime, value: float) -> ScopeStep | None:
        """Advance by one observation; None when it is not after the last one (a replay)."""
        if self.last_bar_time is not None and bar_time <= self.last_bar_time:
            return None
        self.window.append((bar_time, float(value)))
        self.observations += 1
        self.last_bar_time = bar_time
        fitted: FittedRegimeModel | None = None
        probabilities = None
        if self.config.refit.is_due(self.observations, self.last_fit_at):
            fitted = self._refit()
            if fitted is not None:
                probabilities = self._filter_window()
        if fitted is None and self.filter is not None:
            try:
                probabilities = self.filter.update(value)
            except FloatingPointError:
                # The current parameters cannot explain this bar: refit now rather than wait.
                fitted = self._refit()
                probabilities = self._filter_window() if fitted is not None else None
        assert self.detector is not None
        shift = self.detector.update(probabilities) if self.model is not None else None
        probs = None if probabilities is None else tuple(float(p) for p in probabilities)
        return ScopeStep(
            bar_time=bar_time,
            value=float(value),
            probabilities=probs,
            label=None if probs is None else int(np.argmax(probs)),
            regime=self.detector.current_regime,
            model=self.model,
            fitted=fitted,
            window=(self.window[0][0], self.window[-1][0]) if fitted is not None else None,
            shift=shift,
        )

    def _refit(self) -> FittedRegimeModel | None:
        values = np.array([v for _, v in self.window], dtype=np.float64)
        start = self.model.statsmodels_params() if self.model is not None else None
        curvature = self.model.hess_inv_matrix() if self.model is not None else None
        self.last_fit_at = self.observations
        model: FittedRegimeModel | None = None
        error: Exception | None = None
        # Warm start from the previous parameters (faster, stays near the same optimum);
        # statsmodels' own start values when that fails (e.g. boundary estimates).
        for start_params in (start, None) if start is not None else (None,):
            try:
                model = self.fitter(
                    values,
                    self.config.spec,
                    start_params,
                    curvature if start_params is not None else None,
                )
                break
            except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
                error = exc
        if model is None:
            # Keep filtering with the previous parameters; the next scheduled fit retries.
            self.fit_failures += 1
            log.warning("regime fit of %s at bar %d: %s", self.scope, self.observations, error)
            return None
        self.model = model
        return model

    def _filter_window(self) -> Any:
        assert self.model is not None
        self.filter = OnlineHamiltonFilter(self.model)
        probabilities = None
        try:
            for _, v in self.window:
                probabilities = self.filter.update(v)
        except FloatingPointError:
            self.filter, self.model = None, None
            return None
        return probabilities

    # --- persistence (the window itself is stored as rows, see store.py) ---

    def state_dict(self) -> dict[str, Any]:
        detector = self.detector
        assert detector is not None
        filter_state = self.filter.state() if self.filter is not None else None
        return {
            "observations": self.observations,
            "last_fit_at": self.last_fit_at,
            "last_bar_time": self.last_bar_time.isoformat() if self.last_bar_time else None,
            "model": self.model.to_dict() if self.model is not None else None,
            "filter": _filter_state_dict(filter_state) if filter_state is not None else None,
            "detector": {
                "current": detector._current,
                "candidate": detector._candidate,
                "streak": detector._streak,
                "bar": detector._bar,
            },
            "fit_failures": self.fit_failures,
        }

    @classmethod
    def restore(
        cls,
        scope: str,
        config: TrackerConfig,
        state: dict[str, Any],
        window: list[tuple[datetime, float]],
    ) -> ScopeTracker:
        model = FittedRegimeModel.from_dict(state["model"]) if state.get("model") else None
        filt = None
        if model is not None and state.get("filter"):
            filt = OnlineHamiltonFilter.resume(model, _filter_state(state["filter"]))
        detector = ShiftDetector(config.shifts)
        d = state["detector"]
        detector._current, detector._candidate = d["current"], d["candidate"]
        detector._streak, detector._bar = int(d["streak"]), int(d["bar"])
        last = state.get("last_bar_time")
        return cls(
            scope=scope,
            config=config,
            window=deque(window),
            observations=int(state["observations"]),
            last_fit_at=state.get("last_fit_at"),
            last_bar_time=datetime.fromisoformat(last) if last else None,
            model=model,
            filter=filt,
            detector=detector,
            fit_failures=int(state.get("fit_failures", 0)),
        )


def _filter_state_dict(state: FilterState) -> dict[str, Any]:
    return {
        "model_version": state.model_version,
        "joint_probabilities": list(state.joint_probabilities),
        "lags": list(state.lags),
        "bars_seen": state.bars_seen,
        "log_likelihood": state.log_likelihood,
    }


def _filter_state(data: dict[str, Any]) -> FilterState:
    return FilterState(
        model_version=str(data["model_version"]),
        joint_probabilities=tuple(float(x) for x in data["joint_probabilities"]),
        lags=tuple(float(x) for x in data["lags"]),
        bars_seen=int(data["bars_seen"]),
        log_likelihood=float(data["log_likelihood"]),
    )
