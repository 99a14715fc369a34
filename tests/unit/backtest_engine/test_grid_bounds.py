"""The parameter grid: built vectorised in the documented order, bounded before any work."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from services.backtest.engine.grid import MAX_GRID_CELLS, ParamGrid


def reference_rows(g: ParamGrid) -> list[tuple[float, float, float, int, float]]:
    """The definition: the product in order, keeping exit < entry < stop."""
    return [
        c
        for c in itertools.product(
            g.entry_z,
            g.exit_z,
            g.stop_z,
            g.lookback,
            g.time_stop_half_lives,  # type: ignore[arg-type]
        )
        if math.isfinite(c[0]) and c[0] > 0 and -c[0] < c[1] < c[0] and c[2] > c[0]
    ]


@pytest.mark.parametrize("seed", range(5))
def test_combinations_equal_the_product_filtered_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    grid = ParamGrid(
        entry_z=rng.uniform(0.5, 3.0, 6),
        exit_z=rng.uniform(-1.0, 1.0, 5),
        stop_z=rng.uniform(1.0, 5.0, 4),
        lookback=rng.integers(2, 200, 3),
        time_stop_half_lives=(2.0, math.inf),
    )
    got = [tuple(row) for row in grid.combinations().tolist()]
    assert got == reference_rows(grid)


def test_a_huge_grid_is_refused_before_it_is_built() -> None:
    axis = np.linspace(0.1, 5.0, 200)  # 200^3 x 200 = 1.6e9 cells: never materialised
    with pytest.raises(ValueError, match=f"over {MAX_GRID_CELLS}"):
        ParamGrid(entry_z=axis, exit_z=axis, stop_z=axis, lookback=range(2, 202))
