"""`titan demo --offline`: the whole pipeline in one process, with no Kafka and no PostgreSQL.

The same domain code and the same event-time order as the live services: market_data's bar
aggregator over the validated ticks (then the end-of-input watermark), the pairs pipeline
over the bars in the runtime's release order, and regime's and signals' own route handlers
(decoders, alignment and handlers of the live services) fed through `EventTimeJoin` with
stores that keep nothing. Its per-topic digests must equal the live pipeline's: that is
backtest/live parity for the whole pipeline (contract rule 7).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic_settings import BaseSettings

from shared.clock import ManualClock
from shared.events import Envelope, decode, make_envelope
from shared.runtime.batch import BatchContext, BatchProcessor, Route
from shared.runtime.records import ConsumedRecord, TopicNames
from shared.runtime.store import RuntimeStore
from shared.runtime.watermarks import END_OF_INPUT_US, runs

OFFLINE_DSN = "postgresql://offline.invalid/titan"
# produced_at of every offline event: transport metadata, outside every digest.
PRODUCED_AT = datetime(2000, 1, 1, tzinfo=UTC)
Events = dict[str, list[Envelope[Any]]]


def settings_for(cls: type[BaseSettings], env: Mapping[str, str]) -> Any:
    """A service's settings as its process would read them: `env` under the real environment."""
    merged = {**env, **{k: v for k, v in os.environ.items() if k.startswith("TITAN_")}}
    fields: dict[str, Any] = {k.removeprefix("TITAN_").lower(): v for k, v in merged.items()}
    fields["database_url"] = OFFLINE_DSN
    return cls(**{k: v for k, v in fields.items() if k in cls.model_fields})


async def run_offline(
    ticks: Sequence[Any], env: Mapping[str, str], *, with_backtest: bool = False
) -> Events:
    """Every event the pipeline publishes for `ticks` (a replay, in its order), by topic."""
    out: Events = {}
    bars = market_data_stage(ticks, env)
    out["market.bars.v1"] = bars
    out.update(pairs_stage(bars, env))
    out["regime.shifts.v1"] = await regime_stage(bars, out["pairs.spreads.v1"], env)
    out["params.v1"] = backtest_stage(bars, out["pairs.lifecycle.v1"], env) if with_backtest else []
    out["signals.v1"] = await signals_stage(out, env)
    out.update(portfolio_stage(out, env))
    return out


def market_data_stage(ticks: Sequence[Any], env: Mapping[str, str]) -> list[Envelope[Any]]:
    from services.market_data.bootstrap import MarketDataSettings
    from services.market_data.domain.bars import BarAggregator
    from services.market_data.domain.validation import decode_ticks, first_occurrences
    from services.market_data.feeds.encoding import tick_event_bytes
    from services.market_data.handlers import bar_envelope

    settings = settings_for(MarketDataSettings, env)
    clock = ManualClock(datetime.now(UTC))
    values = [tick_event_bytes(t, producer="titan-demo", produced_at=PRODUCED_AT) for t in ticks]
    accepted, _rejected = decode_ticks(values, clock, settings.tick_limits())
    aggregator = BarAggregator(settings.bar_config())
    published = aggregator.apply(first_occurrences(accepted)).publish
    # The replay's end of input reaches every partition: every bar closes.
    published += aggregator.advance_watermarks({0: END_OF_INPUT_US}, lambda _s: 0).publish
    return [bar_envelope(bar, "titan-market_data", PRODUCED_AT) for bar in published]


def pairs_stage(bars: list[Envelope[Any]], env: Mapping[str, str]) -> Events:
    from services.pairs.bootstrap import PairsSettings
    from services.pairs.domain.pipeline import Effects, Pipeline
    from services.pairs.handlers import bars_of, envelope_of
    from shared.runtime.inputs import bar_order

    settings = settings_for(PairsSettings, env)
    config = settings.pipeline_config()
    ordered = sorted(bars, key=lambda e: _key(bar_order(e), e))
    closes = bars_of(ordered, config.interval)
    fx = Effects()
    pipeline = Pipeline(config)
    pipeline.on_released(closes, fx)
    out: Events = {"pairs.tests.v1": [], "pairs.lifecycle.v1": [], "pairs.spreads.v1": []}
    clock = ManualClock(PRODUCED_AT)
    for ev in fx.events:
        out[ev.topic].append(envelope_of(ev, "titan-pairs", clock))
    return out


async def regime_stage(
    bars: list[Envelope[Any]], spreads: list[Envelope[Any]], env: Mapping[str, str]
) -> list[Envelope[Any]]:
    from services.regime.bootstrap import RegimeSettings, regime_routes
    from services.regime.handlers import RegimeService
    from services.regime.store import DiscardingRegimeStore

    settings = settings_for(RegimeSettings, env)
    service = RegimeService(DiscardingRegimeStore(), settings.regime_config())
    await service.load(None)
    inputs = {"market.bars.v1": bars, "pairs.spreads.v1": spreads}
    return (await run_routes(regime_routes(service), inputs, "titan-regime"))["regime.shifts.v1"]


def backtest_stage(
    bars: list[Envelope[Any]], lifecycle: list[Envelope[Any]], env: Mapping[str, str]
) -> list[Envelope[Any]]:
    """The parameter sets of every activation's walk-forward, as the backtest service runs
    it: the same request, the same history (the closed bars before the activation, as the
    market_data history API serves them) and the same computation."""
    import pandas as pd

    from services.backtest import events
    from services.backtest.bootstrap import BacktestSettings, lifecycle_handlers
    from services.backtest.domain.compute import NoHistory, run_job
    from services.backtest.domain.jobs import Job
    from services.backtest.domain.requests import RequestInvalid, parse_request
    from shared.topics import PARAMS

    settings = settings_for(BacktestSettings, env)
    handlers = lifecycle_handlers(None, settings)  # type: ignore[arg-type]  # store unused
    latest: dict[tuple[str, str, datetime], tuple[int, float]] = {}
    for e in bars:
        b = e.payload
        key = (b.symbol, b.interval, b.start)
        if key not in latest or latest[key][0] <= b.revision:
            latest[key] = (b.revision, b.close)
    out: list[Envelope[Any]] = []
    for change in sorted(lifecycle, key=lambda e: (e.payload.as_of, str(e.event_id))):
        for request in handlers.lifecycle_requests(change.payload):
            if request.kind != "walk_forward":
                continue  # only walk-forwards publish parameter sets
            try:
                spec = parse_request(request)
            except RequestInvalid:
                continue
            rows = [
                {"start": start.isoformat(), "symbol": sym, "close": close}
                for (sym, interval, start), (_rev, close) in latest.items()
                if sym in (spec.a, spec.b) and interval == spec.interval
                and (spec.end is None or start < spec.end)
            ]  # fmt: skip
            frame = pd.DataFrame(rows)
            if frame.empty:
                continue
            frame["start"] = pd.to_datetime(frame["start"], utc=True)
            wide = frame.pivot(index="start", columns="symbol", values="close").sort_index()
            closes = wide.reindex(columns=[s for s in (spec.a, spec.b) if s in wide.columns])
            try:
                result = run_job(spec, closes)
            except (NoHistory, ValueError, ArithmeticError, KeyError, IndexError, TypeError):
                continue  # the service fails such a job: no parameter set
            job = Job.queued(spec, PRODUCED_AT, "lifecycle", change.payload.as_of)
            out += [e for t, e in events.completed(job, result, PRODUCED_AT) if t == PARAMS.name]
    return out


async def signals_stage(events: Events, env: Mapping[str, str]) -> list[Envelope[Any]]:
    from services.signals.bootstrap import SignalsSettings, make_engine
    from services.signals.handlers import SignalsHandlers
    from services.signals.store import DiscardingSignalsStore

    settings = settings_for(SignalsSettings, env)
    store = DiscardingSignalsStore()
    handlers = SignalsHandlers(
        lambda snapshot: make_engine(settings, snapshot),
        lambda _c: store,
        await_params=settings.signals_await_params,
    )
    await handlers.load(store)
    inputs = {t: events.get(t, []) for t in ("params.v1", "regime.shifts.v1",
                                             "pairs.lifecycle.v1", "pairs.spreads.v1")}  # fmt: skip
    return (await run_routes(handlers.routes(), inputs, "titan-signals"))["signals.v1"]


def portfolio_stage(events: Events, env: Mapping[str, str]) -> Events:
    """The portfolio's orders and marks from the portfolio backtest (core), given the bars,
    signals and lifecycle changes the live service would be released, converted to events
    as the service converts them: equal digests are live = backtest parity."""
    from services.portfolio.convert import outcome_events
    from services.portfolio.settings import PortfolioSettings
    from titan.portfolio_parity import backtest_inputs, backtest_outcomes

    settings = settings_for(PortfolioSettings, env)
    config = settings.portfolio_config()
    inputs = backtest_inputs(events, settings.portfolio_interval)
    out: Events = {"portfolio.orders.v1": [], "portfolio.positions.v1": []}
    clock = ManualClock(PRODUCED_AT)
    for outcome in backtest_outcomes(config, inputs):
        for ev in outcome_events(config.portfolio_id, outcome):
            out[ev.topic].append(
                make_envelope(
                    ev.payload,
                    event_id=ev.event_id,
                    occurred_at=ev.occurred_at,
                    key=ev.key,
                    producer="titan-portfolio",
                    produced_at=clock.now(),
                )
            )
    return out


async def run_routes(
    routes: Sequence[Route[Any]], inputs: Mapping[str, list[Envelope[Any]]], producer: str
) -> Events:
    """A service's routes over complete inputs, as its consumer would run them: the same
    processor decodes them (unaligned routes handled first, as in a batch), then every
    aligned event is released at the end of input, in the one order."""
    topics = TopicNames("")
    clock = ManualClock(PRODUCED_AT)
    processor = BatchProcessor(routes, RuntimeStore("offline"), topics, clock, producer)
    batch = processor.prepare(
        {
            r.topic: [
                ConsumedRecord(r.topic, 0, n, None, e.to_bytes())
                for n, e in enumerate(inputs.get(r.topic, []))
            ]
            for r in routes
        },
        {},
    )
    assert not batch.pending, "offline decoders run in-process"
    ctx = BatchContext(None, topics, clock, producer)
    by_topic = {r.topic: r for r in routes}
    for topic, (items, _dead) in batch.decoded.items():
        if items and by_topic[topic].aligned is None:
            await by_topic[topic].handle(items, ctx)
    join = processor.event_time.join
    join.add(batch.timed, None)
    for topic, items in runs(join.release(END_OF_INPUT_US).items):
        await by_topic[topic].handle(items, ctx)
    out: Events = {"regime.shifts.v1": [], "signals.v1": []}
    for record in ctx.emitted.records:
        out.setdefault(record.topic, []).append(decode(record.value))
    return out


def _key(order: tuple[datetime, tuple[Any, ...]], envelope: Envelope[Any]) -> tuple[Any, ...]:
    when, tiebreak = order
    return (when, tiebreak, str(envelope.event_id))
