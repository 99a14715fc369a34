"""Universe screens sharded over a pool of processes (TITAN_PAIRS_SCREEN_WORKERS).

The screen's pair space is cut into one block of pair ids per worker; each worker screens its
block with one BLAS thread and the blocks are merged (Benjamini-Hochberg once over the
universe) here. The results equal the in-process screen bit for bit (core's ``sharded.py``),
so the number of workers changes only how fast a screen finishes. Workers are spawned, not
forked: the service's event loop, sockets and threads are not copied into them.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
from numpy.typing import NDArray

from core.cointegration import Autolag, ScreenTable, screen_table_sharded
from shared.runtime.process_pool import single_thread_process_pool


def screen_process_pool(workers: int) -> ProcessPoolExecutor:
    """The screen's workers: spawned, one BLAS thread each (shared/runtime/process_pool.py)."""
    return single_thread_process_pool(workers)


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
    ) -> ScreenTable:
        return screen_table_sharded(
            closes, symbols, self.workers, self.processes, autolag=autolag, maxlag=maxlag
        )

    def close(self) -> None:
        self.processes.shutdown(wait=False, cancel_futures=True)
