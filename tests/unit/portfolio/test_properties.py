"""Properties of the book over arbitrary signal sequences, prices and limits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.portfolio import (
    BarOutcome,
    BookState,
    Costs,
    PairSignal,
    PortfolioBook,
    PortfolioConfig,
)
from tests.unit.portfolio.helpers import day, entry, exit_, random_closes

SYMBOLS = ["A", "B", "C", "D"]
PAIRS = ["A~B", "C~B", "A~D", "C~D", "B~D"]
N_BARS = 40


@dataclass(frozen=True)
class Scenario:
    config: PortfolioConfig
    closes: pd.DataFrame
    signals: list[PairSignal]
    lifecycle: list[tuple[str, str, object]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    optional = st.one_of(st.none(), st.sampled_from([0.05, 0.3, 0.8, 1.5]))
    config = PortfolioConfig(
        capital=draw(st.sampled_from([1e4, 1e6])),
        allocation=draw(st.sampled_from(["equal", "inverse_vol", "vol_target"])),
        vol_lookback=draw(st.sampled_from([2, 5, 10])),
        gross_leverage_cap=draw(st.sampled_from([0.5, 1.0, 2.0, 4.0])),
        max_gross_exposure=draw(st.one_of(st.none(), st.sampled_from([0.5, 3.0]))),
        max_net_exposure=draw(optional),
        max_symbol_exposure=draw(optional),
        max_pairs=draw(st.one_of(st.none(), st.integers(1, 4))),
        drawdown_kill=draw(st.one_of(st.none(), st.sampled_from([0.01, 0.05, 0.2]))),
        costs=Costs(commission_bps=1.0, slippage_bps=draw(st.sampled_from([0.0, 5.0])),
                    borrow_bps_annual=draw(st.sampled_from([0.0, 100.0]))),
    )  # fmt: skip
    vol = draw(st.sampled_from([0.01, 0.05, 0.15]))
    closes = random_closes(SYMBOLS, N_BARS, seed=draw(st.integers(0, 10_000)), vol=vol)
    signals = []
    for _ in range(draw(st.integers(0, 25))):
        pair = draw(st.sampled_from(PAIRS))
        n = draw(st.integers(0, N_BARS - 1))
        kind = draw(st.sampled_from(["long", "short", "close", "stop"]))
        if kind in ("long", "short"):
            w_a = draw(st.floats(0.05, 0.95))
            signals.append(entry(pair, 1 if kind == "long" else -1, n, w_a))
        else:
            signals.append(exit_(pair, n, kind))
    lifecycle = [
        (draw(st.sampled_from(PAIRS)), draw(st.sampled_from(["active", "degraded", "retired"])),
         day(draw(st.integers(0, N_BARS - 1))))
        for _ in range(draw(st.integers(0, 4)))
    ]  # fmt: skip
    return Scenario(config, closes, signals, lifecycle)


def drive(book: PortfolioBook, sc: Scenario, bars: range) -> list[tuple[BarOutcome, BookState]]:
    out = []
    for i in bars:
        for pair, state, when in sc.lifecycle:
            if when == day(i):
                book.on_lifecycle(pair, state, day(i))
        for signal in sc.signals:
            if signal.bar_time == day(i):
                book.on_signal(signal)
        row = sc.closes.iloc[i]
        out.append((book.on_bar(day(i), row.to_dict()), book.state()))
    return out


PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_netting_conserves_each_pairs_exposure(sc: Scenario) -> None:
    for outcome, state in drive(PortfolioBook(sc.config), sc, range(N_BARS)):
        target_by_symbol = dict(zip(state.symbols, state.target.sum(axis=0), strict=True))
        for order in outcome.orders:
            signed = order.quantity if order.side == "buy" else -order.quantity
            assert np.isclose(signed, sum(q for _, q in order.contributions), rtol=1e-12)
            assert order.target_position == target_by_symbol[order.symbol]
        held = dict(zip(state.symbols, state.held.sum(axis=0), strict=True))
        for position in outcome.mark.positions:
            assert position.quantity == held[position.symbol]
        if not state.orders:  # every decision filled: each pair holds exactly its own target
            np.testing.assert_allclose(state.held, state.target, rtol=1e-12, atol=1e-9)


@PROPERTY
@given(scenarios())
def test_entries_never_leave_a_limit_exceeded(sc: Scenario) -> None:
    cfg = sc.config
    previous = BookState(target_dir=np.zeros(0, dtype=np.int64))
    for outcome, state in drive(PortfolioBook(cfg), sc, range(N_BARS)):
        old = dict(zip(previous.pairs, previous.target_dir, strict=True))
        entered = [p for p, d in zip(state.pairs, state.target_dir, strict=True)
                   if d != 0 and old.get(p, 0) != d]  # fmt: skip
        open_pairs = int(np.count_nonzero(state.target_dir))
        if cfg.max_pairs is not None and entered:
            assert open_pairs <= cfg.max_pairs
        if entered:
            assert not outcome.mark.kill_switch
            value = state.target.sum(axis=0) * state.prices
            equity = state.equity
            slack = 1 + 1e-12
            assert np.abs(value).sum() <= cfg.gross_limit * equity * slack
            if cfg.max_net_exposure is not None:
                assert abs(value.sum()) <= cfg.max_net_exposure * equity * slack
            if cfg.max_symbol_exposure is not None:
                assert np.abs(value).max() <= cfg.max_symbol_exposure * equity * slack
        previous = state


@PROPERTY
@given(scenarios())
def test_kill_switch_blocks_entries_and_lets_exits_through(sc: Scenario) -> None:
    killed = False
    previous: dict[str, int] = {}
    for i, (outcome, state) in enumerate(drive(PortfolioBook(sc.config), sc, range(N_BARS))):
        now = dict(zip(state.pairs, (int(d) for d in state.target_dir), strict=True))
        if killed:
            for pair, direction in now.items():
                assert direction == 0 or direction == previous.get(pair, 0), (pair, i)
            for signal in sc.signals:
                if signal.bar_time == day(i) and not signal.is_entry:
                    assert now[signal.pair_id] == 0
        killed = killed or outcome.mark.kill_switch
        assert outcome.mark.kill_switch == killed
        previous = now


@PROPERTY
@given(scenarios(), st.integers(1, N_BARS - 1))
def test_a_state_round_trip_mid_run_continues_exactly(sc: Scenario, cut: int) -> None:
    straight = [o for o, _ in drive(PortfolioBook(sc.config), sc, range(N_BARS))]
    first = PortfolioBook(sc.config)
    head = [o for o, _ in drive(first, sc, range(cut))]
    text = first.state().to_json()
    resumed = PortfolioBook(sc.config, BookState.from_json(text))
    assert resumed.state().to_json() == text
    tail = [o for o, _ in drive(resumed, sc, range(cut, N_BARS))]
    assert head + tail == straight
