"""Universe screens sharded over a pool of processes (TITAN_PAIRS_SCREEN_WORKERS).

The screen's pair space is cut into one block of pair ids per worker; each worker screens its
block with one BLAS thread and the blocks are merged (Benjamini-Hochberg once over the
universe) here. The results equal the in-process screen bit for bit (core's ``sharded.py``),
so the number of workers changes only how fast a screen finishes. Workers are spawned, not
forked: the service's event loop, sockets and threads are not copied into them.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numpy.typing import NDArray

from core.cointegration import Autolag, PairScreenResult, screen_universe_sharded

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_blas_thread() -> None:
    for name in _ONE_THREAD:
        os.environ[name] = "1"


def screen_process_pool(workers: int) -> ProcessPoolExecutor:
    """Spawned workers whose BLAS uses one thread (set before NumPy loads in them)."""
    context = multiprocessing.get_context("spawn")
    saved = {name: os.environ.get(name) for name in _ONE_THREAD}
    _one_blas_thread()  # spawned workers inherit the environment at start
    try:
        return ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_one_blas_thread
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class ScreenPool:
    """A screen function for the pipeline: one block of pair ids per worker."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a screen pool needs >= 1 worker, got {workers}")
        self.workers = workers
        self.processes = screen_process_pool(workers)

    def __call__(
        self,
        closes: NDArray[np.float64],
        symbols: list[str],
        autolag: Autolag,
        maxlag: int | None,
    ) -> list[PairScreenResult]:
        return screen_universe_sharded(
            closes, symbols, self.workers, self.processes, autolag=autolag, maxlag=maxlag
        )

    def close(self) -> None:
        self.processes.shutdown(wait=False, cancel_futures=True)


def workers_for(setting: int) -> int:
    """-1: one per core of the machine; 0: no pool; N: N workers."""
    return max(1, os.cpu_count() or 1) if setting < 0 else setting
