"""Handlers on the in-memory store: batch boundaries, restarts and interleaving change nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from core.regime import market_returns
from services.regime.handlers import RegimeService, shift_event_id
from shared.events import MARKET_SCOPE, Envelope
from shared.runtime.batch import BatchContext
from shared.runtime.inputs import bar_order
from tests.event_time_kit import released_batches
from tests.unit.regime_service.builders import (
    bar_envelope,
    batch_context,
    day,
    prices_from_returns,
    regime_config,
    spread_envelope,
    switching_returns,
)
from tests.unit.regime_service.fake_store import InMemoryRegimeStore

SYMBOLS = ("AAA", "BBB")
N = 330


def _bars(interleave: str) -> list[Envelope[Any]]:
    r1 = switching_returns(3, [(150, 1.0), (60, 3.0), (N - 211, 1.0)])
    r2 = switching_returns(4, [(150, 1.0), (60, 3.0), (N - 211, 1.0)])
    prices = np.column_stack([prices_from_returns(r1), prices_from_returns(r2)])
    per_symbol = [
        [bar_envelope(s, day(i), float(prices[i, k])) for i in range(N)]
        for k, s in enumerate(SYMBOLS)
    ]
    if interleave == "by_symbol":
        return per_symbol[0] + per_symbol[1]
    return [e for pair in zip(*per_symbol, strict=True) for e in pair]


async def _run(
    bars: list[Envelope[Any]], batch: int, restart_every: int | None = None
) -> tuple[InMemoryRegimeStore, list[dict[str, Any]]]:
    store = InMemoryRegimeStore()
    svc = RegimeService(store, regime_config(universe=SYMBOLS))
    await svc.load(None)
    emitted: list[dict[str, Any]] = []
    # The runtime releases bars by event time (each symbol on its own partition here).
    arrivals = [(SYMBOLS.index(e.payload.symbol), e) for e in bars]
    for n, released in enumerate(released_batches(arrivals, bar_order, batch)):
        if restart_every and n % restart_every == 0:
            svc = RegimeService(store, regime_config(universe=SYMBOLS))
            await svc.load(None)
        ctx = batch_context()
        await svc.handle_bars(released, ctx)
        emitted += _events(ctx)
    return store, emitted


def _events(ctx: BatchContext) -> list[dict[str, Any]]:
    from shared.events import decode

    return [decode(r.value).content_identity() for r in ctx.emitted.records]


@pytest.fixture(scope="module")
async def reference() -> tuple[InMemoryRegimeStore, list[dict[str, Any]]]:
    return await _run(_bars("round_robin"), batch=1000)


async def test_shifts_are_emitted_and_stored(
    reference: tuple[InMemoryRegimeStore, list[dict[str, Any]]],
) -> None:
    store, emitted = reference
    assert emitted, "the synthetic market switches regime"
    shifts = await store.shifts(None, MARKET_SCOPE)
    assert [str(s.event_id) for s in shifts] == [e["event_id"] for e in emitted]
    for s, e in zip(shifts, emitted, strict=True):
        assert e["key"] == MARKET_SCOPE and e["event_type"] == "RegimeShifted"
        assert e["payload"]["to_name"] == ("low_vol", "high_vol")[s.to_regime]
        assert s.event_id == shift_event_id(MARKET_SCOPE, s.bar_time, s.to_regime)
        assert e["payload"]["model"] == "markov_regression"
        assert s.model_version in {v for (_, v) in store.fits}
    observed = [v for (scope, _), v in sorted(store.observations.items())]
    bars = _bars("round_robin")
    prices = np.array([[b.payload.close for b in bars[k::2]] for k in range(2)]).T
    assert observed == [float(x) for x in market_returns(prices)]


@pytest.mark.parametrize(
    ("interleave", "batch", "restart_every"),
    [("by_symbol", 1000, None), ("round_robin", 37, None), ("round_robin", 50, 3)],
)
async def test_batches_restarts_and_interleaving_change_nothing(
    reference: tuple[InMemoryRegimeStore, list[dict[str, Any]]],
    interleave: str,
    batch: int,
    restart_every: int | None,
) -> None:
    store, emitted = await _run(_bars(interleave), batch, restart_every)
    ref_store, ref_emitted = reference
    assert emitted == ref_emitted
    snapshot, ref = store.snapshot(), ref_store.snapshot()
    assert snapshot["shifts"] == ref["shifts"]
    assert snapshot["probabilities"] == ref["probabilities"]
    assert snapshot["fits"] == ref["fits"]
    assert snapshot["trackers"] == ref["trackers"]


async def test_pair_scope_from_spreads() -> None:
    store = InMemoryRegimeStore()
    svc = RegimeService(store, regime_config())
    await svc.load(None)
    rng = np.random.default_rng(5)
    sigma = np.r_[np.full(160, 0.002), np.full(60, 0.01), np.full(40, 0.002)]
    pa = 50 * np.exp(np.cumsum(rng.normal(0, sigma)))
    pb = 40 * np.exp(np.cumsum(rng.normal(0, 0.001, sigma.size)))
    events = [
        spread_envelope("AAA~BBB", day(i), float(pa[i]), float(pb[i]), 1.0)
        for i in range(sigma.size)
    ]
    ctx = batch_context()
    await svc.handle_spreads(events + events[-5:], ctx)  # replayed updates are ignored
    spreads = np.array([e.payload.spread for e in events])
    observed = [v for (_, _), v in sorted(store.observations.items())]
    assert observed == [float(x) for x in np.diff(spreads)]
    names = {e["payload"]["to_name"] for e in _events(ctx)}
    assert names and names <= {"mean_reverting", "trending"}
    # The volatile stretch of the spread is labelled trending, the calm end mean-reverting.
    assert store.probabilities[("AAA~BBB", day(215))].regime == 1
    assert store.probabilities[("AAA~BBB", day(sigma.size - 1))].regime == 0
    (row,) = await store.current(None)
    assert row.scope == "AAA~BBB" and row.kind == "pair_spread"
    assert row.spread_input is not None


def _pair_spreads(pairs: list[str], n: int) -> list[Envelope[Any]]:
    rng = np.random.default_rng(11)
    sigma = np.r_[
        np.full(n // 2, 0.002), np.full(n // 4, 0.01), np.full(n - n // 2 - n // 4, 0.002)
    ]
    out: list[Envelope[Any]] = []
    legs = {p: (50 * np.exp(np.cumsum(rng.normal(0, sigma))),
                40 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))) for p in pairs}  # fmt: skip
    for i in range(n):  # pairs interleaved, each in its own order
        for p in pairs:
            pa, pb = legs[p]
            out.append(spread_envelope(p, day(i), float(pa[i]), float(pb[i]), 1.0))
    return out


async def test_a_fit_pool_gives_the_in_process_results_for_every_scope() -> None:
    """Scopes processed side by side, their fits in worker processes: the same fits,
    probabilities and shifts as one scope after the other in-process."""
    spreads = _pair_spreads(["AAA~BBB", "CCC~DDD", "EEE~FFF"], 260)
    results = []
    for workers in (0, 2):
        store = InMemoryRegimeStore()
        svc = RegimeService(store, replace(regime_config(), fit_workers=workers))
        await svc.load(None)
        emitted: list[dict[str, Any]] = []
        try:
            for i in range(0, len(spreads), 97):
                ctx = batch_context()
                await svc.handle_spreads(spreads[i : i + 97], ctx)
                emitted += _events(ctx)
        finally:
            if svc.fit_pool is not None:
                svc.fit_pool.close()
        assert store.fits, "the scopes must be long enough to be fitted"
        results.append((sorted(map(str, emitted)), store.snapshot()))
    (inline_events, inline), (pooled_events, pooled) = results
    assert pooled_events == inline_events
    for table in ("fits", "probabilities", "shifts", "trackers"):
        assert pooled[table] == inline[table], table
