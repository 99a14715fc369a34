"""A record that passes decoding and still makes a handler raise: dead-lettered, never a crash.

Before shared/runtime/quarantine.py, such a record failed its batch on every attempt: the
service died, restarted, met the same batch and died again. Here a handler is made to raise
on one record, after it has handled the records before it in its call (so the failed attempt
has changed the service's memory and its transaction): the service carries on, the record is
on the DLQ with the handler's error, and everything else equals a run of the input without
that record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest

from services.pairs.bootstrap import definition as pairs_definition
from services.signals.bootstrap import definition as signals_definition
from shared.runtime.batch import Route
from shared.runtime.service import ServiceDefinition
from shared.settings import KafkaSettings
from tests.integration.streams import end_offsets, read_topic, running_service, wait_consumed
from tests.integration.test_pairs_service import (
    BARS,
    bar_envelope,
    bar_stream,
    offline_events,
    produce_bars,
    published,
    service_settings,
)
from tests.integration.test_signals_service import (
    expected_signals,
    feed_pipeline,
    settings_for,
)
from tests.integration.test_signals_service import published as published_signals

pytestmark = pytest.mark.integration


class ModelRangeError(ValueError):
    """What the handler raises on the poisoned record (a bug meeting unforeseen input)."""


def raising_on(
    topic: str, is_poison: Callable[[Any], bool]
) -> Callable[[Sequence[Route[Any]]], list[Route[Any]]]:
    """Routes whose `topic` handler handles the items before the poisoned one, then raises."""

    def wrap(route: Route[Any]) -> Route[Any]:
        real = route.handle

        async def handle(items: list[Any], ctx: Any) -> None:
            for i, item in enumerate(items):
                if is_poison(item):
                    await real(items[:i], ctx)  # memory and transaction changed, then...
                    raise ModelRangeError("close outside the model's range")
            await real(items, ctx)

        return replace(route, handle=handle)

    return lambda routes: [wrap(r) if r.topic == topic else r for r in routes]


def with_routes(
    base: ServiceDefinition[Any, Any], change: Callable[[Sequence[Route[Any]]], list[Route[Any]]]
) -> ServiceDefinition[Any, Any]:
    return replace(base, routes=lambda ctx: change(base.routes(ctx)))


async def isolated_batches(http_port: int) -> float:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
        metrics = (await http.get("/metrics")).text
    found = re.search(r"^titan_isolated_batches_total (\S+)$", metrics, re.M)
    return float(found[1]) if found else 0.0


async def test_pairs_dead_letters_the_bar_its_handler_raises_on_and_runs_on(
    kafka_bootstrap: str, make_topics: Callable[..., Awaitable[Any]], service_dsn: Any
) -> None:
    """An aligned input: the bar is handled in a later batch than the one that read it."""
    names = await make_topics()
    bars = bar_stream(120)
    poison = next(b for b in bars[len(bars) // 2 :] if b.revision == 0)
    poison_id = bar_envelope(poison).event_id
    await produce_bars(kafka_bootstrap, names[BARS], bars)

    dsn = service_dsn("pairs")
    faulty = with_routes(pairs_definition(), raising_on(BARS, lambda e: e.event_id == poison_id))
    settings = service_settings(dsn, names.prefix)
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    async with running_service(faulty, settings, kafka) as runner:
        await wait_consumed(dsn, "pairs", await end_offsets(kafka_bootstrap, [names[BARS]]), 90)
        assert await isolated_batches(runner.http_port) >= 1

    dead = await read_topic(kafka_bootstrap, names[BARS] + ".dlq")
    assert [json.loads(d.value)["event_id"] for d in dead] == [str(poison_id)]
    reason = dead[0].headers["titan.error"].decode()
    assert reason == "handler raised ModelRangeError: close outside the model's range"
    expected = offline_events([b for b in bars if b is not poison])
    assert expected != offline_events(bars)  # the bar mattered
    assert await published(kafka_bootstrap, names) == expected


async def test_signals_dead_letters_the_parameter_set_its_handler_raises_on(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    """An input handled on arrival: the parameter set for MSFT~IBM is poisoned."""
    topics = await make_topics()
    dsn = await fresh_database("signals")
    poisoned = "wf-msft-1"
    faulty = with_routes(
        signals_definition(),
        raising_on("params.v1", lambda item: item[0].key == ("MSFT~IBM", 1)),  # wf-msft-1
    )
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    async with running_service(faulty, settings_for(dsn, topics.prefix), kafka) as runner:
        await feed_pipeline(kafka_bootstrap, topics.prefix, dsn)
        assert await isolated_batches(runner.http_port) >= 1

    dead = await read_topic(kafka_bootstrap, f"{topics.prefix}params.v1.dlq")
    assert [json.loads(d.value)["payload"]["version"] for d in dead] == [poisoned]
    assert dead[0].headers["titan.error"].decode().startswith("handler raised ModelRangeError")
    expected = expected_signals(without_params=poisoned)
    assert expected != expected_signals()  # the parameter set mattered
    assert await published_signals(kafka_bootstrap, topics.prefix) == expected
