"""Event time decides, not arrival: any interleaving of the same per-topic streams (with
control events known before the spread stream reaches them) gives identical signals and
identical stored state, also across restarts from the stored state and duplicate delivery."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.strategy import PairLifecycle, StrategyParams
from services.signals.domain import ParamsBook, SignalEngine
from services.signals.domain.convert import signal_payload
from shared.events import (
    PairStateChanged,
    ParametersPublished,
    Payload,
    RegimeShifted,
    SpreadUpdated,
)
from tests.unit.signals_service.builders import bar, feed, lifecycle, params, shift, spread
from tests.unit.signals_service.fake_store import InMemorySignalsStore

PAIRS = ("AAA~BBB", "CCC~DDD")
DEFAULTS = StrategyParams(version="defaults-test")


def new_engine(snapshot: Any = None) -> SignalEngine:
    book = ParamsBook(DEFAULTS, no_trade_regimes=("2",))
    return SignalEngine(book, unknown_lifecycle=PairLifecycle.CANDIDATE, snapshot=snapshot)


@dataclass
class Scenario:
    """Per-partition streams: each list is in its partition's order."""

    queues: list[list[Payload]]


def _event_time(event: Payload) -> Any:
    if isinstance(event, SpreadUpdated | RegimeShifted):
        return event.bar_time
    if isinstance(event, PairStateChanged):
        return event.as_of
    return None


def _scope(event: Payload) -> str:
    if isinstance(event, RegimeShifted):
        return event.scope
    if isinstance(event, ParametersPublished):
        return "params"
    assert isinstance(event, SpreadUpdated | PairStateChanged)
    return event.pair_id


def interleave(scenario: Scenario, rng: random.Random) -> list[Payload]:
    """A random merge of the partitions in which no spread is consumed before a control
    event that concerns it (same pair, or market, or any parameter set) with event time
    at or before the spread's bar time."""
    queues = [list(q) for q in scenario.queues]
    out: list[Payload] = []
    while any(queues):
        pending_controls = [e for q in queues for e in q if not isinstance(e, SpreadUpdated)]
        eligible = []
        for i, q in enumerate(queues):
            if not q:
                continue
            head = q[0]
            if isinstance(head, SpreadUpdated):
                blocked = any(
                    _scope(c) in (head.pair_id, "market", "params")
                    and (_event_time(c) is None or _event_time(c) <= head.bar_time)
                    for c in pending_controls
                )
                if blocked:
                    continue
            eligible.append(i)
        out.append(queues[rng.choice(eligible)].pop(0))
    return out


def run(events: Sequence[Payload], cuts: set[int]) -> tuple[list[str], dict[str, Any]]:
    """Feed events; at each cut, save changes and restart the engine from the store."""
    store = InMemorySignalsStore()
    engine = new_engine()
    signals: list[str] = []

    def flush() -> None:
        changes = engine.take_changes()
        signals.extend(signal_payload(s).model_dump_json() for s in changes.signals)
        asyncio.run(store.save(changes))

    for n, event in enumerate(events):
        feed(engine, event)
        if n in cuts:
            flush()
            engine = new_engine(asyncio.run(store.load_snapshot()))
    flush()
    # Signals of different pairs interleave like their inputs (Kafka orders per key only);
    # per pair the order is the bar order, so sorting by (pair, bar time) loses nothing.
    signals.sort(key=lambda s: (json.loads(s)["pair_id"], json.loads(s)["bar_time"]))
    state = {
        p: {
            "machine": r.machine,
            "lifecycle": r.lifecycle,
            "regime": r.regime,
            "position": r.position,
        }
        for p, r in store.pairs.items()
    }
    return signals, state


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.integers(min_value=10, max_value=30))
    z_grid = st.sampled_from([-4.5, -3.0, -2.5, -2.1, -1.0, -0.2, 0.0, 0.3, 1.0, 2.2, 2.8, 4.2])
    queues: list[list[Payload]] = []
    for pair_id in PAIRS:
        zs = draw(st.lists(st.one_of(z_grid, st.none()), min_size=n, max_size=n))
        queues.append([spread(pair_id, i, z) for i, z in enumerate(zs)])
        states = st.sampled_from(["active", "active", "degraded", "retired", "candidate"])
        changes = draw(st.lists(st.tuples(st.integers(0, n), states), max_size=4))
        queues.append([lifecycle(pair_id, s, i) for i, s in [(0, "active"), *changes]])
        shifts = draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, 2)), max_size=3))
        queues.append([shift(pair_id, i, r) for i, r in shifts])
    market = draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, 2)), max_size=4))
    queues.append([shift("market", i, r) for i, r in market])
    keys = st.tuples(st.sampled_from([*PAIRS, "*"]), st.sampled_from([None, 0, 1, 2]))
    entries = st.sampled_from([1.5, 2.0, 2.5])
    published = draw(st.lists(st.tuples(keys, entries, st.booleans()), max_size=5))
    queues.append(
        [
            params(p, r, f"v{k}", entry_z=e, exit_z=0.3, no_trade=nt)
            for k, ((p, r), e, nt) in enumerate(published)
        ]
    )
    return Scenario(queues)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.randoms(use_true_random=False), st.sets(st.integers(0, 200), max_size=6))
def test_any_interleaving_and_restarts_give_identical_signals(
    scenario: Scenario, rng: random.Random, cuts: set[int]
) -> None:
    reference: list[Payload] = [e for q in scenario.queues[::-1] for e in q]  # params first
    controls_first: list[Payload] = [e for e in reference if not isinstance(e, SpreadUpdated)] + [
        e for q in scenario.queues for e in q if isinstance(e, SpreadUpdated)
    ]
    expected = run(controls_first, set())
    shuffled = interleave(scenario, rng)
    assert run(shuffled, cuts) == expected
    # Every record delivered twice (adjacent or later) changes nothing either.
    doubled = [e for e in shuffled for _ in range(2)]
    assert run(doubled, cuts) == expected


def test_lifecycle_arriving_early_waits_for_its_event_time() -> None:
    pair = PAIRS[0]
    zs = [-2.5, -2.5, -2.5, -2.5, 0.0]
    early: list[Payload] = [lifecycle(pair, "active", 2)]
    early += [spread(pair, i, z) for i, z in enumerate(zs)]
    late: list[Payload] = [spread(pair, i, z) for i, z in enumerate(zs[:2])]
    late += [lifecycle(pair, "active", 2)] + [
        spread(pair, i, z) for i, z in enumerate(zs) if i >= 2
    ]
    signals_early, _ = run(early, set())
    signals_late, _ = run(late, set())
    assert signals_early == signals_late
    first = json.loads(signals_early[0])
    # Not on bars 0 and 1 (still a candidate), but on bar 2 when the pair became active.
    assert first["action"] == "open_long_spread"
    assert first["bar_time"].startswith(bar(2).date().isoformat())


def test_control_event_after_the_stream_passed_it_governs_the_next_bar() -> None:
    pair = PAIRS[0]
    events: list[Payload] = [lifecycle(pair, "active", 0), spread(pair, 0, -2.5)]
    events += [spread(pair, 1, -2.6), lifecycle(pair, "retired", 1), spread(pair, 2, -2.6)]
    signals, state = run(events, set())
    actions = [json.loads(s)["action"] for s in signals]
    assert actions == ["open_long_spread", "forced_close"]
    assert json.loads(signals[1])["bar_time"].startswith(bar(2).date().isoformat())
    assert state[pair]["lifecycle"] == PairLifecycle.RETIRED


def test_stale_control_event_is_dropped() -> None:
    pair = PAIRS[0]
    events: list[Payload] = [lifecycle(pair, "active", 0), spread(pair, 0, 0.0)]
    events += [lifecycle(pair, "degraded", 5), spread(pair, 6, 0.0), lifecycle(pair, "active", 3)]
    events += [spread(pair, 7, -2.5)]
    signals, state = run(events, set())
    assert signals == []  # still degraded: the active of bar 3 is older than the degraded of 5
    assert state[pair]["lifecycle"] == PairLifecycle.DEGRADED


def test_market_regime_is_taken_at_the_spread_bar_time() -> None:
    engine = new_engine()
    for i, r in [(5, 1), (0, 0), (10, 2)]:
        feed(engine, shift("market", i, r))
    assert engine.market_regime_at(bar(0)).regime == 0  # type: ignore[union-attr]
    assert engine.market_regime_at(bar(7)).regime == 1  # type: ignore[union-attr]
    assert engine.market_regime_at(bar(10)).regime == 2  # type: ignore[union-attr]
    assert engine.market_regime_at(bar(-1)) is None


def test_pair_scope_regime_overrides_market_and_labels_signals() -> None:
    pair = PAIRS[0]
    events: list[Payload] = [lifecycle(pair, "active", 0), shift("market", 0, 1), shift(pair, 2, 0)]
    events += [spread(pair, 0, 0.0), spread(pair, 1, 0.0), spread(pair, 2, -2.5)]
    signals, _ = run(events, set())
    assert [json.loads(s)["regime"] for s in signals] == [0]
