"""Domain metrics of the regime service on its /metrics registry."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Histogram

from core.regime import FittedRegimeModel, Fitter, RegimeModelSpec

# One Markov-switching fit takes ~0.1-0.4 s; a cold start with many iterations, seconds.
FIT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class RegimeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.fit_seconds = Histogram(
            "titan_regime_fit_seconds",
            "Time of one regime model fit (waiting for a worker process included), by scope "
            "kind (market or pair)",
            ["scope"],
            buckets=FIT_BUCKETS,
            registry=registry,
        )
        self.fit_queue = Gauge(
            "titan_regime_fit_queue",
            "Regime fits requested and not finished (running or waiting for a worker)",
            registry=registry,
        )
        self.scopes = Gauge(
            "titan_regime_scopes",
            "Scopes (the market and each pair) with a regime tracker",
            registry=registry,
        )

    def timed(self, fit: Fitter, scope_kind: str) -> Fitter:
        """The same fit function, observed; safe from the regime service's scope threads."""
        histogram = self.fit_seconds.labels(scope=scope_kind)

        def timed_fit(
            values: Any, spec: RegimeModelSpec, start_params: Any, start_hess_inv: Any
        ) -> FittedRegimeModel:
            self.fit_queue.inc()
            started = time.perf_counter()
            try:
                return fit(values, spec, start_params, start_hess_inv)
            finally:
                histogram.observe(time.perf_counter() - started)
                self.fit_queue.dec()

        return timed_fit
