"""One BLAS thread for the statsmodels oracles: on a shared 2-core box threaded BLAS on tiny
regressions only oversubscribes the CPU (tens of times slower)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="package")
def _single_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: only speed depends on it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
