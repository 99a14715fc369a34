"""Property tests of the per-pair signal state machine against the reference rules."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.strategy import (
    PairLifecycle,
    PairSignalMachine,
    RegimeState,
    Signal,
    SignalAction,
    SpreadObservation,
    StrategyParams,
    signal_id,
)
from core.strategy.machine import SIGNAL_NAMESPACE
from tests.unit.strategy.reference import reference_action
from tests.unit.strategy.strategies import PAIR, START, Bar, bar_streams, strategy_params

EXITS = {"close", "stop", "time_stop", "forced_close"}


def run(machine: PairSignalMachine, bars: list[Bar]) -> list[Signal | None]:
    out = []
    for bar in bars:
        if bar.new_params is not None:
            machine.set_params(bar.new_params)
        out.append(machine.on_bar(bar.obs, bar.lifecycle, bar.regime))
    return out


@settings(max_examples=45, deadline=None)
@given(params=strategy_params(), bars=bar_streams())
def test_machine_follows_reference_rules_bar_by_bar(
    params: StrategyParams, bars: list[Bar]
) -> None:
    machine = PairSignalMachine(PAIR, params)
    current, ref_position = params, None
    for bar in bars:
        if bar.new_params is not None:
            machine.set_params(bar.new_params)
            current = bar.new_params
        before = machine.position
        signal = machine.on_bar(bar.obs, bar.lifecycle, bar.regime)
        expected, ref_position = reference_action(
            ref_position,
            current,
            bar.obs.z_score,
            bar.obs.half_life,
            bar.lifecycle,
            bar.regime.no_trade,
        )
        assert (signal.action.value if signal else None) == expected
        if signal is not None and signal.action.is_open:
            assert machine.position is not None
            assert machine.position.params == current
        if signal is not None and not signal.action.is_open:
            # an exit is decided by, and carries the version of, the parameters at entry
            assert before is not None
            assert signal.params_version == before.params.version
        if ref_position is not None:
            assert machine.position is not None
            assert machine.position.bars_held == ref_position.bars_held
            assert machine.position.bars_held < machine.position.time_limit


@settings(max_examples=45, deadline=None)
@given(params=strategy_params(), bars=bar_streams())
def test_opens_and_exits_alternate_and_obey_gates_and_stops(
    params: StrategyParams, bars: list[Bar]
) -> None:
    machine = PairSignalMachine(PAIR, params)
    last_kind = "exit"
    for bar in bars:
        if bar.new_params is not None:
            machine.set_params(bar.new_params)
        position = machine.position
        signal = machine.on_bar(bar.obs, bar.lifecycle, bar.regime)
        z = bar.obs.z_score
        if signal is not None and signal.action.is_open:
            assert last_kind == "exit", "two opens without a close"
            assert bar.lifecycle == PairLifecycle.ACTIVE and not bar.regime.no_trade
            last_kind = "open"
        elif signal is not None:
            assert last_kind == "open", "an exit without a position"
            last_kind = "exit"
        if position is None:
            continue
        entry = position.params
        forced = bar.lifecycle in (PairLifecycle.DEGRADED, PairLifecycle.RETIRED)
        adverse = z <= -entry.stop_z if position.direction > 0 else z >= entry.stop_z
        reverted = z >= -entry.exit_z if position.direction > 0 else z <= entry.exit_z
        if forced:
            assert signal is not None and signal.action == SignalAction.FORCED_CLOSE
        elif adverse:
            assert signal is not None and signal.action == SignalAction.STOP
        elif reverted:
            assert signal is not None and signal.action == SignalAction.CLOSE
        elif position.bars_held + 1 >= position.time_limit:
            assert signal is not None and signal.action == SignalAction.TIME_STOP
        else:
            assert signal is None


@settings(max_examples=35, deadline=None)
@given(params=strategy_params(), bars=bar_streams(min_size=2), cut=st.floats(0.0, 1.0))
def test_restore_mid_stream_continues_identically(
    params: StrategyParams, bars: list[Bar], cut: float
) -> None:
    straight = run(PairSignalMachine(PAIR, params), bars)
    at = int(cut * len(bars))
    first = PairSignalMachine(PAIR, params)
    head = run(first, bars[:at])
    stored = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    restored = PairSignalMachine.from_dict(stored)
    assert restored.to_dict() == first.to_dict()
    assert head + run(restored, bars[at:]) == straight


@settings(max_examples=20, deadline=None)
@given(params=strategy_params(), bars=bar_streams())
def test_signal_ids_are_deterministic_and_unique(params: StrategyParams, bars: list[Bar]) -> None:
    first = [s for s in run(PairSignalMachine(PAIR, params), bars) if s is not None]
    second = [s for s in run(PairSignalMachine(PAIR, params), bars) if s is not None]
    assert [s.signal_id for s in first] == [s.signal_id for s in second]
    assert len({s.signal_id for s in first}) == len(first)
    for s in first:
        name = f"{PAIR}|{s.action.value}|{s.bar_time.astimezone(UTC).isoformat()}"
        assert s.signal_id == str(uuid.uuid5(SIGNAL_NAMESPACE, name))


def test_signal_id_depends_on_instant_not_time_zone() -> None:
    utc = datetime(2024, 3, 1, 21, 0, tzinfo=UTC)
    shifted = utc.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    assert signal_id(PAIR, "close", utc) == signal_id(PAIR, "close", shifted)
    assert signal_id(PAIR, "close", utc) != signal_id(PAIR, "stop", utc)
    with pytest.raises(ValueError, match="timezone-aware"):
        signal_id(PAIR, "close", datetime(2024, 3, 1))


def obs(i: int, z: float, half_life: float = 5.0) -> SpreadObservation:
    return SpreadObservation(PAIR, START + timedelta(days=i), z, 0.8, half_life, 0.0, 40.0, 60.0)


ACTIVE, CALM = PairLifecycle.ACTIVE, RegimeState("calm")


def test_parameter_switch_keeps_open_position_on_entry_stop_and_time_limit() -> None:
    old = StrategyParams(
        entry_z=2.0, exit_z=0.5, stop_z=3.0, time_stop_half_lives=2.0, version="old"
    )
    machine = PairSignalMachine(PAIR, old)
    opened = machine.on_bar(obs(0, -2.5, half_life=3.0), ACTIVE, CALM)
    assert opened is not None and opened.action == SignalAction.OPEN_LONG_SPREAD
    machine.set_params(StrategyParams(entry_z=1.0, exit_z=0.0, stop_z=10.0, version="new"))
    assert machine.on_bar(obs(1, -2.9), ACTIVE, RegimeState("crisis", no_trade=True)) is None
    stopped = machine.on_bar(obs(2, -3.1), ACTIVE, CALM)
    assert stopped is not None and stopped.action == SignalAction.STOP
    assert stopped.params_version == "old"
    reopened = machine.on_bar(obs(3, -1.5), ACTIVE, CALM)  # new entry threshold decides
    assert reopened is not None and reopened.params_version == "new"


def test_time_stop_fires_after_ceil_k_half_lives() -> None:
    params = StrategyParams(entry_z=2.0, exit_z=0.5, stop_z=5.0, time_stop_half_lives=1.5)
    machine = PairSignalMachine(PAIR, params)
    assert machine.on_bar(obs(0, 2.2, half_life=2.5), ACTIVE, CALM) is not None  # limit ceil(3.75)
    assert [machine.on_bar(obs(i, 2.1, half_life=100.0), ACTIVE, CALM) for i in (1, 2, 3)] == [
        None
    ] * 3
    signal = machine.on_bar(obs(4, 2.1), ACTIVE, CALM)
    assert signal is not None and signal.action == SignalAction.TIME_STOP


def test_legs_follow_sizing_and_unwind_on_close() -> None:
    beta = StrategyParams(sizing="beta_neutral")
    machine = PairSignalMachine(PAIR, beta)
    opened = machine.on_bar(obs(0, 2.5), ACTIVE, CALM)  # short spread, h=0.8, pa=40, pb=60
    assert opened is not None
    leg_a, leg_b = opened.legs
    assert (leg_a.symbol, leg_a.side, leg_b.symbol, leg_b.side) == ("KO", "sell", "PEP", "buy")
    assert leg_a.weight == pytest.approx(40 / (40 + 0.8 * 60))
    assert leg_a.weight + leg_b.weight == pytest.approx(1.0)
    closed = machine.on_bar(obs(1, 0.1), ACTIVE, CALM)
    assert closed is not None and closed.action == SignalAction.CLOSE
    assert [(leg.side, leg.weight) for leg in closed.legs] == [
        ("buy", leg_a.weight),
        ("sell", leg_b.weight),
    ]


def test_replayed_bar_is_ignored_and_foreign_pair_rejected() -> None:
    machine = PairSignalMachine(PAIR, StrategyParams())
    assert machine.on_bar(obs(1, -2.5), ACTIVE, CALM) is not None
    assert machine.on_bar(obs(1, 0.0), ACTIVE, CALM) is None
    assert machine.on_bar(obs(0, 0.0), ACTIVE, CALM) is None
    assert machine.position is not None
    other = SpreadObservation("XOM~CVX", START, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="XOM~CVX"):
        machine.on_bar(other, ACTIVE, CALM)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"entry_z": 0.0}, "entry_z"),
        ({"exit_z": 2.5}, "exit_z"),
        ({"stop_z": 1.0}, "stop_z"),
        ({"time_stop_half_lives": 0.0}, "time_stop_half_lives"),
        ({"lookback": 1}, "lookback"),
        ({"sizing": "equal"}, "sizing"),
        ({"version": ""}, "version"),
    ],
)
def test_invalid_params_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StrategyParams(**kwargs)  # type: ignore[arg-type]


def test_bad_state_and_pair_ids_are_rejected() -> None:
    with pytest.raises(ValueError, match="A~B"):
        PairSignalMachine("KOPEP", StrategyParams())
    state = PairSignalMachine(PAIR, StrategyParams()).to_dict()
    with pytest.raises(ValueError, match="state_version"):
        PairSignalMachine.from_dict({**state, "state_version": 99})
    assert math.isinf(
        PairSignalMachine.from_dict(
            json.loads(
                json.dumps(PairSignalMachine(PAIR, StrategyParams(stop_z=math.inf)).to_dict())
            )
        ).params.stop_z
    )
