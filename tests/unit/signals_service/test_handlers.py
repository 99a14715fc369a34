"""Handlers on the in-memory store: decoding, dead letters, emitted envelopes, retry reload."""

from __future__ import annotations

import uuid
from typing import Any, cast

import asyncpg
import pytest

from services.signals.bootstrap import SignalsSettings, make_engine
from services.signals.domain.records import Changes
from services.signals.handlers import SignalsHandlers
from shared.clock import ManualClock
from shared.events import Envelope, SignalEmitted, decode
from shared.runtime.batch import BatchContext
from shared.runtime.records import ConsumedRecord, TopicNames
from tests.unit.signals_service.builders import (
    T0,
    envelope,
    lifecycle,
    params,
    record,
    shift,
    spread,
)
from tests.unit.signals_service.fake_store import InMemorySignalsStore

PAIR = "AAA~BBB"
PREFIX = "t1."


class FlakyStore(InMemorySignalsStore):
    """Fails the first `failures` saves, like a database that drops the connection."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def save(self, changes: Changes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("database went away")
        await super().save(changes)


def settings(**kw: Any) -> SignalsSettings:
    return SignalsSettings(database_url="postgresql://x@localhost/x", **kw)


async def make_handlers(store: InMemorySignalsStore, **kw: Any) -> SignalsHandlers:
    s = settings(**kw)
    handlers = SignalsHandlers(lambda snap: make_engine(s, snap), lambda _conn: store)
    await handlers.load(store)
    return handlers


async def process(
    handlers: SignalsHandlers, records: list[ConsumedRecord]
) -> tuple[list[Envelope[Any]], list[tuple[ConsumedRecord, str]]]:
    """One batch the way BatchProcessor runs it: routes in order, decode, handle."""
    topics = TopicNames(PREFIX)
    ctx = BatchContext(cast(asyncpg.Connection, None), topics, ManualClock(T0), "titan-signals")
    for route in handlers.routes():
        mine = [r for r in records if r.topic == topics.real(route.topic)]
        if not mine:
            continue
        assert route.decode is not None
        items, dead = route.decode(mine)
        ctx.emitted.dead_letters.extend(dead)
        if items:
            await route.handle(items, ctx)
    assert all(r.topic == f"{PREFIX}signals.v1" for r in ctx.emitted.records)
    return [decode(r.value) for r in ctx.emitted.records], ctx.emitted.dead_letters


def inputs() -> list[ConsumedRecord]:
    recs = [
        record(f"{PREFIX}params.v1", envelope(params("*", 1, "wf-1", entry_z=1.8), "*|1")),
        record(f"{PREFIX}regime.shifts.v1", envelope(shift("market", 0, 1), "market")),
        record(f"{PREFIX}pairs.lifecycle.v1", envelope(lifecycle(PAIR, "active", 0), PAIR)),
    ]
    zs = [0.0, -1.9, -1.0, -0.3, 2.5, 3.0, 4.5, 0.0]
    recs += [
        record(f"{PREFIX}pairs.spreads.v1", envelope(spread(PAIR, i, z), PAIR), offset=i)
        for i, z in enumerate(zs)
    ]
    return recs


async def test_signals_are_emitted_with_the_core_signal_id_as_event_id() -> None:
    store = InMemorySignalsStore()
    out, dead = await process(await make_handlers(store), inputs())
    assert dead == []
    actions = [(e.payload.action, e.payload.params_version) for e in out]
    assert actions == [
        ("open_long_spread", "wf-1"),
        ("close", "wf-1"),
        ("open_short_spread", "wf-1"),
        ("stop", "wf-1"),
    ]
    for env in out:
        assert isinstance(env.payload, SignalEmitted)
        assert env.event_id == uuid.UUID(env.payload.signal_id)
        assert env.key == PAIR and env.occurred_at == env.payload.bar_time
        assert env.payload.regime == 1
    assert [s.signal.signal_id for s in await store.history(None, None, None, 100)] == [
        e.payload.signal_id for e in out
    ]
    assert await store.active_positions() == []


async def test_bad_records_are_dead_lettered_with_reasons() -> None:
    store = InMemorySignalsStore()
    bad_params = envelope(params("*", 1, "bad", entry_z=1.0, exit_z=1.5), "*|1")
    bad_pair = envelope(spread(PAIR, 0, 1.0), PAIR).model_dump()
    bad_pair["payload"]["pair_id"] = "NOPAIR"
    recs = [
        record(f"{PREFIX}params.v1", bad_params),
        record(f"{PREFIX}pairs.spreads.v1", bad_params, offset=1, value=b"{not json"),
        record(
            f"{PREFIX}pairs.spreads.v1",
            bad_params,
            offset=2,
            value=Envelope[Any].model_validate(bad_pair).to_bytes(),
        ),
        # the wrong event type for the topic
        record(f"{PREFIX}pairs.lifecycle.v1", bad_params, offset=3),
    ]
    out, dead = await process(await make_handlers(store), recs)
    assert out == []
    reasons = [why for _, why in sorted(dead, key=lambda d: d[0].offset)]
    assert "exit_z" in reasons[0] and "rejected by the signals service" in reasons[0]
    assert reasons[1].startswith("not JSON")
    assert "pair_id must look like 'A~B'" in reasons[2]
    assert "does not belong on this topic" in reasons[3]


async def test_failed_batch_reloads_state_and_retry_gives_the_clean_result() -> None:
    clean_store = InMemorySignalsStore()
    clean, _ = await process(await make_handlers(clean_store), inputs())
    flaky = FlakyStore(failures=0)
    handlers = await make_handlers(flaky)
    first, rest = inputs()[:5], inputs()[5:]
    await process(handlers, first)
    flaky.failures = 1
    with pytest.raises(ConnectionError):
        await process(handlers, rest)
    await handlers.load(flaky)  # what the runtime's on_start does before the retry
    retried, _ = await process(handlers, rest)
    before, _ = await process(await make_handlers(InMemorySignalsStore()), first)
    assert [e.content_identity() for e in before + retried] == [e.content_identity() for e in clean]
    assert flaky.pairs == clean_store.pairs


async def test_every_input_twice_changes_nothing() -> None:
    clean, _ = await process(await make_handlers(InMemorySignalsStore()), inputs())
    twice, _ = await process(
        await make_handlers(InMemorySignalsStore()), [r for r in inputs() for _ in (0, 1)]
    )
    assert [e.content_identity() for e in twice] == [e.content_identity() for e in clean]


async def test_no_trade_regime_setting_blocks_entries() -> None:
    store = InMemorySignalsStore()
    out, _ = await process(await make_handlers(store, signals_no_trade_regimes="1, calm"), inputs())
    assert out == []


def test_settings_reject_unusable_default_params() -> None:
    with pytest.raises(ValueError, match="exit_z must satisfy"):
        settings(signals_entry_z=1.0, signals_exit_z=1.5)
    assert settings().default_params().version.startswith("defaults-")
    assert settings(signals_no_trade_regimes="2, crisis ,").no_trade_regimes() == {"2", "crisis"}
