"""Regime fits in a pool of processes, so that the scopes of one batch fit in parallel.

Each pair scope's tracker is independent of the others, so the regime service hands each
scope's updates of a batch to a thread and every fit (statsmodels, ~0.1-0.4 s) to a process:
the scopes' fits then run on every core. What is fitted is unchanged: the same function on
the same window and start values. Each worker uses one BLAS thread, so the arithmetic does
not depend on how many fits run at once (TITAN_REGIME_FIT_WORKERS; 0 keeps fits in-process).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.regime import FittedRegimeModel, RegimeModelSpec, fit_in_process
from shared.runtime.process_pool import single_thread_process_pool


class FitPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.processes = single_thread_process_pool(workers)
        # One thread per scope being processed: they only wait for their fits.
        self.threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="regime-scope")

    def fit(
        self, values: Any, spec: RegimeModelSpec, start_params: Any, start_hess_inv: Any
    ) -> FittedRegimeModel:
        future = self.processes.submit(fit_in_process, values, spec, start_params, start_hess_inv)
        return future.result()

    def close(self) -> None:
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.processes.shutdown(wait=False, cancel_futures=True)
