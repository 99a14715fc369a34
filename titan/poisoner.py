"""Sends poison records (titan/poison.py) into every topic the services consume while the
demo runs, and reads back what each topic's DLQ caught.

The poisoner keeps each topic's poison at `rate` of the records on it (its end offsets,
watermarks included, less the poison itself), checking every couple of seconds, so that poison
arrives among the real events all along the run; `top_up` is called once more after the
last fault so the final share holds. Broker outages are waited out: a round that fails is
simply tried again at the next tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from shared.events import DecodeError, decode
from shared.runtime.watermarks import is_watermark
from shared.topics import dlq_topic, topic
from titan.pipeline import SERVICE_INPUTS, Pipeline
from titan.poison import (
    POISON_KINDS,
    audit_dead_letters,
    bare_envelope,
    dead_letter_from,
    is_poison_key,
    poison_key,
    poison_value,
)

log = logging.getLogger(__name__)
ROUND_TIMEOUT_S = 20.0  # a round stuck on a dead broker gives up and is tried again later
ROUND_EVERY_S = 2.0  # each round opens its own clients: not more often on a loaded machine
TEMPLATE_LOOKBACK = 50  # records read back from the end of a partition to find a real event


def consumed_topics(services: tuple[str, ...]) -> tuple[str, ...]:
    """Every contract topic one of `services` consumes, in pipeline order."""
    wanted = {t for s in services for t in SERVICE_INPUTS[s]}
    order = [t for s in SERVICE_INPUTS for t in SERVICE_INPUTS[s]]
    return tuple(dict.fromkeys(t for t in order if t in wanted))


def consumers_of(contract_topic: str, services: tuple[str, ...]) -> set[str]:
    return {f"titan-{s}" for s in services if contract_topic in SERVICE_INPUTS[s]}


@dataclass
class Poisoner:
    pipeline: Pipeline
    rate: float
    topics: tuple[str, ...] = ()
    sent: dict[str, list[str]] = field(default_factory=dict)  # topic -> poison keys acked
    templates: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    failed_rounds: int = 0

    def __post_init__(self) -> None:
        self.topics = self.topics or consumed_topics(self.pipeline.services)
        self.sent = {t: [] for t in self.topics}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.top_up_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=ROUND_EVERY_S)

    async def top_up_once(self) -> bool:
        try:
            await asyncio.wait_for(self.top_up(), timeout=ROUND_TIMEOUT_S)
        except asyncio.CancelledError:
            # aiokafka's client close re-raises the cancellation of its own inner task when
            # a round times out; only a cancellation of this task itself ends the poisoner.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            self.failed_rounds += 1
            return False
        except (KafkaError, OSError, TimeoutError) as exc:
            self.failed_rounds += 1
            log.info("poison round failed (%s); tried again later", type(exc).__name__)
            return False
        return True

    async def top_up(self) -> None:
        """Send what each topic lacks to hold `rate` poison among its records."""
        ends = await self.pipeline.end_offsets(set(self.topics))
        producer = AIOKafkaProducer(bootstrap_servers=self.pipeline.bootstrap, acks="all",
                                    enable_idempotence=True)  # fmt: skip
        try:  # started inside: a start refused during a broker outage still closes it
            await producer.start()
            for name in self.topics:
                real = self.pipeline.topic(name)
                records = sum(end for (t, _p), end in ends.items() if t == real)
                # At least one of each kind, even on a topic with few records (or none).
                real_records = max(0, records - len(self.sent[name]))
                wanted = max(len(POISON_KINDS), math.ceil(self.rate * real_records))
                if wanted <= len(self.sent[name]):
                    continue
                template = self.templates.get(name) or await self._template(name, ends)
                # No real event yet: poison made from a bare envelope of the topic's type.
                partition, event = template or (0, bare_envelope(topic(name).events[0]))
                while len(self.sent[name]) < wanted:
                    n = len(self.sent[name])
                    key = poison_key(name, n)
                    await producer.send_and_wait(real, poison_value(event, name, n),
                                                 key=key.encode(), partition=partition)  # fmt: skip
                    self.sent[name].append(key)
        finally:
            await producer.stop()

    async def _template(
        self, name: str, ends: dict[tuple[str, int], int]
    ) -> tuple[int, dict[str, Any]] | None:
        real = self.pipeline.topic(name)
        expected = topic(name).events
        if not any(t == real and end > 0 for (t, _p), end in ends.items()):
            return None  # (an aiokafka consumer closed unused raises CancelledError)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.pipeline.bootstrap,
                                    enable_auto_commit=False)  # fmt: skip
        try:
            await consumer.start()
            for (t, p), end in sorted(ends.items()):
                if t != real or end == 0:
                    continue
                tp = TopicPartition(t, p)
                consumer.assign([tp])
                consumer.seek(tp, max(0, end - TEMPLATE_LOOKBACK))
                batch = await consumer.getmany(tp, timeout_ms=2000, max_records=TEMPLATE_LOOKBACK)
                for m in batch.get(tp, []):
                    if is_watermark(m.headers) or is_poison_key(m.key) or m.value is None:
                        continue
                    try:
                        decode(m.value, expected)
                    except DecodeError:
                        continue
                    self.templates[name] = (p, json.loads(m.value))
                    return self.templates[name]
        finally:
            await consumer.stop()
        return None

    async def audit(self) -> dict[str, Any]:
        """Per topic: poison sent, and what its consumers dead-lettered (poison.py)."""
        out: dict[str, Any] = {}
        for name in self.topics:
            dlq = self.pipeline.topic(dlq_topic(name))
            letters = await read_dead_letters(self.pipeline, dlq)
            out[name] = audit_dead_letters(
                set(self.sent[name]), consumers_of(name, self.pipeline.services), letters
            )
        return out


async def read_dead_letters(pipeline: Pipeline, real_dlq: str) -> list[Any]:
    """Every record of a dead-letter topic (all partitions), as DeadLetters."""
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.bootstrap)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(real_dlq))
    finally:
        await producer.stop()
    tps = [TopicPartition(real_dlq, p) for p in partitions]
    consumer = AIOKafkaConsumer(bootstrap_servers=pipeline.bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        remaining = [tp for tp in tps if ends[tp] > 0]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        letters = []
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000)
            for tp, messages in batch.items():
                letters += [dead_letter_from(m.key, m.headers or ()) for m in messages
                            if m.offset < ends[tp]]  # fmt: skip
            remaining = [tp for tp in remaining if await consumer.position(tp) < ends[tp]]
        return letters
    finally:
        await consumer.stop()
