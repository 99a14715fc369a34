"""The contract every SignalsStore meets; run on the in-memory fake (unit) and PostgreSQL
(tests/integration/test_signals_store.py). Each check gets a factory of empty stores."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.strategy import PairLifecycle, StrategyParams
from services.signals.domain import ParamsBook, SignalEngine
from services.signals.domain.convert import param_set, signal_payload
from services.signals.store import SignalsStore
from shared.events import Payload
from tests.unit.signals_service.builders import bar, feed, lifecycle, params, shift, spread

StoreFactory = Callable[[], Awaitable[SignalsStore]]
PAIR, OTHER = "AAA~BBB", "CCC~DDD"


def _engine(snapshot: object = None) -> SignalEngine:
    return SignalEngine(
        ParamsBook(StrategyParams(version="d"), ("2",)),
        unknown_lifecycle=PairLifecycle.CANDIDATE,
        snapshot=snapshot,  # type: ignore[arg-type]
    )


async def _apply(store: SignalsStore, engine: SignalEngine, events: list[Payload]) -> None:
    for e in events:
        feed(engine, e)
    await store.save(engine.take_changes())


SCRIPT: list[Payload] = [
    params("*", None, "wf-any", entry_z=2.2, time_stop_half_lives=float("inf")),
    params(PAIR, 1, "wf-p1", entry_z=1.8),
    shift("market", 0, 1, "calm"),
    shift("market", 5, 2, "storm"),
    lifecycle(PAIR, "active", 0),
    lifecycle(OTHER, "active", 3),  # waits for OTHER's stream to reach bar 3
    shift(OTHER, 9, 0),  # pair-scope, pending
    spread(PAIR, 0, -1.9),
    spread(PAIR, 1, 0.0),
    spread(PAIR, 2, 2.0),
    spread(OTHER, 0, -2.5),
    spread(OTHER, 1, 1.0),
]


async def check_round_trip_of_engine_state(new_store: StoreFactory) -> None:
    store = await new_store()
    engine = _engine()
    await _apply(store, engine, SCRIPT)
    restored = _engine(await store.load_snapshot())
    assert restored.snapshot() == engine.snapshot()
    # The restored engine continues exactly like the original.
    more: list[Payload] = [spread(PAIR, 3, 0.2), spread(OTHER, 3, -2.5), spread(OTHER, 9, -2.5)]
    for e in more:
        feed(engine, e)
        feed(restored, e)
    assert [signal_payload(s) for s in restored.take_changes().signals] == [
        signal_payload(s) for s in engine.take_changes().signals
    ]


async def check_pending_and_positions_follow_the_latest_save(new_store: StoreFactory) -> None:
    store = await new_store()
    engine = _engine()
    await _apply(store, engine, SCRIPT)
    snap = await store.load_snapshot()
    other = next(p for p in snap.pairs if p.pair_id == OTHER)
    assert [(e.kind, e.event_time) for e in other.pending] == [
        ("lifecycle", bar(3)),
        ("regime", bar(9)),
    ]
    assert [a.position.pair_id for a in await store.active_positions()] == [PAIR]
    await _apply(store, engine, [spread(OTHER, 3, -2.5), spread(PAIR, 3, 0.0)])
    snap = await store.load_snapshot()
    other = next(p for p in snap.pairs if p.pair_id == OTHER)
    assert [e.event_time for e in other.pending] == [bar(9)]
    assert other.lifecycle == PairLifecycle.ACTIVE and other.lifecycle_time == bar(3)
    active = await store.active_positions()
    assert [a.position.pair_id for a in active] == [OTHER]
    opening = active[0].opening_signal
    assert opening is not None and opening.signal_id == active[0].position.opening_signal_id
    assert opening.params_version == "wf-any" and opening.regime == 1  # market, bar 3


async def check_params_upsert_by_key(new_store: StoreFactory) -> None:
    store = await new_store()
    engine = _engine()
    await _apply(store, engine, [params(PAIR, 1, "a"), params(PAIR, 1, "b", entry_z=2.5)])
    await _apply(store, engine, [params(PAIR, None, "c")])
    snap = await store.load_snapshot()
    assert sorted((p.pair_key, str(p.regime), p.params.version) for p in snap.params) == [
        (PAIR, "1", "b"),
        (PAIR, "None", "c"),
    ]
    assert next(p for p in snap.params if p.regime == 1) == param_set(
        params(PAIR, 1, "b", entry_z=2.5)
    )


async def check_signals_history_and_stream_order(new_store: StoreFactory) -> None:
    store = await new_store()
    engine = _engine()
    await _apply(store, engine, SCRIPT)
    await _apply(store, engine, [spread(PAIR, 3, 0.0), spread(OTHER, 3, -2.5)])
    every = await store.history(None, None, None, 100)
    assert [(s.signal.pair_id, s.signal.action) for s in every] == [
        (PAIR, "open_long_spread"),
        (PAIR, "close"),
        (PAIR, "open_short_spread"),
        (PAIR, "close"),
        (OTHER, "open_long_spread"),
    ]
    assert [s.signal.bar_time for s in await store.history(PAIR, bar(1), bar(2), 10)] == [bar(1)]
    assert len(await store.history(None, None, None, 1)) == 1
    seqs = [s.seq for s in await store.signals_after(0, 100)]
    assert seqs == sorted(seqs) and len(seqs) == 5
    assert await store.last_seq() == seqs[-1]
    assert [s.seq for s in await store.signals_after(seqs[0], 100)] == seqs[1:]
    # Saving the same signal again (a re-run) keeps one row.
    changes = engine.take_changes()
    changes.signals = [s for s in _replayed_signals()]
    await store.save(changes)
    assert len(await store.history(None, None, None, 100)) == 5


def _replayed_signals() -> list:  # type: ignore[type-arg]
    engine = _engine()
    for e in SCRIPT:
        feed(engine, e)
    return engine.take_changes().signals


CHECKS = [
    check_round_trip_of_engine_state,
    check_pending_and_positions_follow_the_latest_save,
    check_params_upsert_by_key,
    check_signals_history_and_stream_order,
]
