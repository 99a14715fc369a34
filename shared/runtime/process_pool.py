"""Worker processes for CPU-heavy numeric work (regime fits, pairs screen shards).

Spawned, not forked: the service's event loop, sockets and threads are not copied into them.
Each uses one BLAS thread, so a result's arithmetic does not depend on how many run at once
(and two workers on two cores do not oversubscribe them).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _one_blas_thread() -> None:
    for name in _ONE_THREAD:
        os.environ[name] = "1"


def single_thread_process_pool(workers: int) -> ProcessPoolExecutor:
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


def workers_for(setting: int) -> int:
    """A pool's size from its setting: -1 one per core of the machine; 0 no pool; N workers."""
    return max(1, os.cpu_count() or 1) if setting < 0 else setting
