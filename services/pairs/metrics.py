"""Domain metrics of the pairs service on its /metrics registry."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.cointegration import Autolag, PairScreenResult
from services.pairs.domain.screening import ScreenFn

# A screen of 20 symbols takes ~0.1-1 s; 500 symbols, minutes.
SCREEN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class PairsMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.pairs_active = Gauge(
            "titan_pairs_active",
            "Pairs in the active lifecycle state (their spreads are published)",
            registry=registry,
        )
        self.pairs_by_state = Gauge(
            "titan_pairs_by_state",
            "Pairs known to the pipeline, by lifecycle state",
            ["state"],
            registry=registry,
        )
        self.rescreen_seconds = Histogram(
            "titan_pairs_rescreen_seconds",
            "Time to screen the universe for cointegrated pairs (scheduled or requested)",
            buckets=SCREEN_BUCKETS,
            registry=registry,
        )
        self.screen_blocks = Counter(
            "titan_pairs_screen_blocks",
            "Screen blocks this replica computed for the replica grid (screen_grid.py)",
            registry=registry,
        )
        # States once reported: a state that empties is reported as 0, not left stale.
        self._seen: set[str] = set()

    def timed(self, screen: ScreenFn) -> ScreenFn:
        """The same screen function, observed."""

        def timed_screen(
            closes: NDArray[np.float64], symbols: list[str], autolag: Autolag, maxlag: int | None
        ) -> Sequence[PairScreenResult]:
            started = time.perf_counter()
            try:
                return screen(closes, symbols, autolag, maxlag)
            finally:
                self.rescreen_seconds.observe(time.perf_counter() - started)

        return timed_screen

    def count_states(self, states: Iterable[str]) -> None:
        counts: dict[str, int] = {}
        for state in states:
            counts[state] = counts.get(state, 0) + 1
        self.pairs_active.set(counts.get("active", 0))
        for state in {*counts, *self._seen}:
            self.pairs_by_state.labels(state=state).set(counts.get(state, 0))
        self._seen |= set(counts)
