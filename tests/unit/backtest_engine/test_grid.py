"""The grid engine decides exactly as the live state machine, bar by bar, for every combination."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core.strategy import (
    ActionCode,
    PairLifecycle,
    PairSignalMachine,
    RegimeState,
    SignalAction,
    SpreadObservation,
)
from services.backtest.engine import Costs, ParamGrid, SpreadSeries, run_grid, run_single
from services.backtest.engine.spreads import compute_spread_series
from tests.data import load_pair

START = datetime(2000, 1, 3, 21, 0, tzinfo=UTC)


def machine_actions(
    grid: ParamGrid,
    index: int,
    spreads: SpreadSeries,
    prices_a: np.ndarray,
    prices_b: np.ndarray,
    tradable: np.ndarray,
    force_close: np.ndarray,
) -> np.ndarray:
    """Step the live machine bar by bar and return its action codes."""
    params = grid.params(index)
    column = spreads.column(params.lookback)
    machine = PairSignalMachine("A~B", params)
    out = np.zeros(len(prices_a), dtype=np.int8)
    for t in range(len(prices_a)):
        hedge = spreads.hedge_ratio[t, column]
        obs = SpreadObservation(
            pair_id="A~B",
            bar_time=START + timedelta(days=t),
            z_score=float(spreads.z_score[t, column]),
            hedge_ratio=float(hedge) if math.isfinite(hedge) else 0.0,
            half_life=float(spreads.half_life[t, column]),
            spread=0.0,
            price_a=float(prices_a[t]),
            price_b=float(prices_b[t]),
        )
        lifecycle = PairLifecycle.DEGRADED if force_close[t] else PairLifecycle.ACTIVE
        regime = RegimeState("calm", no_trade=not tradable[t])
        signal = machine.on_bar(obs, lifecycle, regime)
        if signal is not None:
            out[t] = list(SignalAction).index(signal.action) + 1
    return out


def test_action_codes_map_to_signal_actions() -> None:
    for code in ActionCode:
        if code != ActionCode.NONE:
            assert list(SignalAction).index(SignalAction.from_code(code)) + 1 == code


def test_grid_matches_machine_on_real_pair_with_rolling_hedge_and_gates() -> None:
    frame = load_pair("XOM", "CVX", "2001-01-01", "2004-12-31")
    a, b = frame["XOM"].to_numpy(), frame["CVX"].to_numpy()
    rng = np.random.default_rng(7)
    tradable = rng.random(len(a)) > 0.1
    force_close = rng.random(len(a)) < 0.01
    grid = ParamGrid(
        entry_z=[1.5, 2.2],
        exit_z=[-0.2, 0.5],
        stop_z=[3.0, math.inf],
        lookback=[20, 45],
        time_stop_half_lives=[1.0],
        sizing="beta_neutral",
    )
    result = run_grid(
        a,
        b,
        frame.index.to_numpy(),
        grid,
        Costs(),
        hedge="rolling",
        tradable=tradable,
        force_close=force_close,
    )
    spreads = compute_spread_series(a, b, grid.lookback, hedge="rolling")
    assert len(grid) == result.actions.shape[1] == 16
    kinds = set()
    for index in range(len(grid)):
        expected = machine_actions(grid, index, spreads, a, b, tradable, force_close)
        np.testing.assert_array_equal(result.actions[:, index], expected, err_msg=f"combo {index}")
        kinds |= set(expected.tolist())
    assert kinds == set(range(7)), "every action kind should occur in this history"


@settings(max_examples=25, deadline=None)
@given(
    z=hnp.arrays(np.float64, st.integers(5, 120), elements=st.floats(-6, 6)),
    nan_every=st.integers(2, 30),
    entries=st.lists(st.floats(0.5, 3.0), min_size=1, max_size=3),
    exits=st.lists(st.floats(-0.4, 0.4), min_size=1, max_size=2),
    stops=st.lists(st.one_of(st.floats(3.1, 6.0), st.just(math.inf)), min_size=1, max_size=2),
    ks=st.lists(st.one_of(st.floats(0.2, 3.0), st.just(math.inf)), min_size=1, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_grid_matches_machine_on_precomputed_series(
    z: np.ndarray,
    nan_every: int,
    entries: list[float],
    exits: list[float],
    stops: list[float],
    ks: list[float],
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    n = len(z)
    z = z.copy()
    z[::nan_every] = np.nan
    half_life = rng.choice([0.5, 1.0, 2.3, 7.0, np.inf, np.nan], size=n)
    spreads = SpreadSeries.single(z, rng.uniform(0.2, 2.0, n), half_life, lookback=30)
    a, b = rng.uniform(10, 20, n), rng.uniform(30, 50, n)
    tradable, force_close = rng.random(n) > 0.2, rng.random(n) < 0.05
    grid = ParamGrid(entries, exits, stops, [30], ks)
    result = run_grid(
        a,
        b,
        np.arange(n),
        grid,
        Costs(),
        spreads=spreads,
        tradable=tradable,
        force_close=force_close,
    )
    for index in range(len(grid)):
        expected = machine_actions(grid, index, spreads, a, b, tradable, force_close)
        np.testing.assert_array_equal(result.actions[:, index], expected)


def test_every_grid_column_equals_its_single_run() -> None:
    frame = load_pair("KO", "PEP", "1995-01-01", "1999-12-31")
    a, b, times = frame["KO"].to_numpy(), frame["PEP"].to_numpy(), frame.index.to_numpy()
    grid = ParamGrid([1.5, 2.5], [0.0, 0.5], [4.0], [30, 60], [2.0], sizing="beta_neutral")
    costs = Costs(commission_bps=1.0, slippage_bps=3.0, borrow_bps_annual=50.0)
    result = run_grid(a, b, times, grid, costs, capital=1e6)
    for index in range(len(grid)):
        run = run_single(a, b, times, grid.params(index), costs, capital=1e6)
        np.testing.assert_array_equal(run.returns, result.returns[:, index])
        assert run.equity[-1] - 1e6 == pytest.approx(result.pnl[index], rel=1e-12)
        assert len(run.trades) == result.trade_counts[index]
    assert result.returns.shape == (len(a), len(grid))


def test_param_grid_combinations_order_and_validity() -> None:
    grid = ParamGrid([1.0, 2.0], [0.5, 1.5], [1.8, 3.0], [10], [2.0, math.inf])
    combos = grid.combinations()
    valid = [(e, x, s) for e in (1.0, 2.0) for x in (0.5, 1.5) for s in (1.8, 3.0) if x < e < s]
    assert len(grid) == len(combos) == 2 * len(valid)
    assert [tuple(c) for c in combos[["entry_z", "exit_z", "stop_z"]][::2]] == valid
    assert combos["time_stop_half_lives"][:2].tolist() == [2.0, math.inf]
    assert grid.params(0).version == "grid-0"
    with pytest.raises(ValueError, match="no valid combination"):
        ParamGrid([1.0], [2.0], [3.0], [10])
    with pytest.raises(ValueError, match="lookbacks"):
        ParamGrid([1.0], [0.0], [3.0], [1])


def test_bad_inputs_are_rejected_with_precise_messages() -> None:
    a = np.linspace(10, 11, 50)
    grid = ParamGrid([2.0], [0.5], [4.0], [10])
    times = np.arange(50)
    with pytest.raises(ValueError, match="one length"):
        run_grid(a, a[:-1], times, grid, Costs())
    bad = a.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="bar 7"):
        run_grid(a, bad, times, grid, Costs())
    with pytest.raises(ValueError, match="fill must be one of"):
        run_grid(a, a * 2, times, grid, Costs(), fill="open")
    with pytest.raises(ValueError, match=r"tradable must have shape \(50,\)"):
        run_grid(a, a * 2, times, grid, Costs(), tradable=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="commission_bps"):
        Costs(commission_bps=-1.0)
    with pytest.raises(KeyError, match="lookback 10"):
        run_grid(a, a * 2, times, grid, Costs(), spreads=SpreadSeries.single(a, a, a, 20))
