"""Domain metrics observe without changing results: the timed screen and fit functions
return what they wrap, and the gauges count what the services hold."""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry

from services.pairs.domain.screening import in_process_screen
from services.pairs.metrics import PairsMetrics
from services.regime.metrics import RegimeMetrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    assert value is not None, f"{name} {labels} not exposed"
    return value


def test_pairs_gauges_count_states_and_report_emptied_states_as_zero() -> None:
    registry = CollectorRegistry()
    metrics = PairsMetrics(registry)
    metrics.count_states(["active", "active", "candidate", "retired"])
    assert _value(registry, "titan_pairs_active") == 2
    assert _value(registry, "titan_pairs_by_state", state="candidate") == 1
    metrics.count_states(["retired"])
    assert _value(registry, "titan_pairs_active") == 0
    assert _value(registry, "titan_pairs_by_state", state="active") == 0
    assert _value(registry, "titan_pairs_by_state", state="retired") == 1


def test_timed_screen_returns_the_screen_and_observes_its_duration() -> None:
    registry = CollectorRegistry()
    metrics = PairsMetrics(registry)
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.normal(size=(300, 1)), axis=0) + 100.0
    closes = np.hstack([walk, 2.0 * walk + rng.normal(scale=0.5, size=(300, 1)), walk[::-1]])
    symbols = ["AAA", "BBB", "CCC"]
    timed = metrics.timed(in_process_screen)
    assert timed(closes, symbols, "aic", None) == in_process_screen(closes, symbols, "aic", None)
    assert _value(registry, "titan_pairs_rescreen_seconds_count") == 1
    assert _value(registry, "titan_pairs_rescreen_seconds_sum") > 0


def test_timed_fit_counts_the_queue_while_fitting_and_observes_by_scope_kind() -> None:
    registry = CollectorRegistry()
    metrics = RegimeMetrics(registry)
    seen_queue: list[float] = []

    def recording_fit(values: Any, spec: Any, start_params: Any, start_hess_inv: Any) -> Any:
        seen_queue.append(_value(registry, "titan_regime_fit_queue"))
        return ("model", values)

    timed = metrics.timed(recording_fit, "pair")
    assert timed(1, None, None, None) == ("model", 1)
    assert seen_queue == [1.0]
    assert _value(registry, "titan_regime_fit_queue") == 0
    assert _value(registry, "titan_regime_fit_seconds_count", scope="pair") == 1
