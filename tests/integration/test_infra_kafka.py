"""The local KRaft broker and aiokafka 0.14 against it: the client features the delivery
rules rely on (idempotent producer, consumer groups, seek, offset commits)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.infra.kafka import PartitionCountMismatch, ensure_topics
from shared.topic_partitions import OVERRIDES_VAR, PARTITIONS_VAR, resolved_topics
from shared.topics import CONTRACT_TOPICS, all_topics

pytestmark = pytest.mark.integration


async def test_contract_topics_created_idempotently_with_configs(
    kafka_bootstrap: str, make_topics: Callable[..., Any]
) -> None:
    names = await make_topics()
    assert set(names) == {spec.name for spec in all_topics()}
    # A second pass creates nothing: every topic already exists.
    assert await ensure_topics(kafka_bootstrap, all_topics(), names=names) == []

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(list(names.values()))}
        for spec in resolved_topics():  # make_topics creates with the resolved counts
            assert len(described[names[spec.name]]["partitions"]) == spec.partitions
        lifecycle = names["pairs.lifecycle.v1"]
        ticks = names["market.ticks.v1"]
        resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in (lifecycle, ticks)]
        responses = await admin.describe_configs(resources)
    finally:
        await admin.close()
    configs: dict[str, dict[str, str]] = {}
    for response in responses:
        for _code, _msg, _rtype, rname, entries in response.resources:
            configs[rname] = {e[0]: e[1] for e in entries}
    assert configs[lifecycle]["cleanup.policy"] == "compact"
    ticks_spec = next(s for s in CONTRACT_TOPICS if s.name == "market.ticks.v1")
    assert configs[ticks]["retention.ms"] == str(ticks_spec.retention_ms)


async def test_idempotent_producer_consumer_group_seek_and_commit(
    kafka_bootstrap: str, make_topics: Callable[..., Any]
) -> None:
    topic = (await make_topics())["market.ticks.v1"]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        sent = [
            await producer.send_and_wait(topic, f"tick-{i}".encode(), key=b"MSFT") for i in range(5)
        ]
    finally:
        await producer.stop()
    # One key -> one partition, consecutive offsets.
    assert len({md.partition for md in sent}) == 1
    assert [md.offset for md in sent] == list(range(sent[0].offset, sent[0].offset + 5))
    tp = TopicPartition(topic, sent[0].partition)

    group = f"test-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        values: list[bytes] = []
        while len(values) < 5:
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, "no records within 10 s"
            values += [m.value for msgs in batch.values() for m in msgs if m.value is not None]
        assert values == [f"tick-{i}".encode() for i in range(5)]

        await consumer.commit({tp: sent[3].offset})
        assert await consumer.committed(tp) == sent[3].offset

        consumer.seek(tp, sent[2].offset)
        again = await consumer.getmany(tp, timeout_ms=10_000)
        assert again[tp][0].value == b"tick-2"
    finally:
        await consumer.stop()

    # A new member of the same group resumes from the committed offset.
    resumed = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_bootstrap, group_id=group,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await resumed.start()
    try:
        batch = await resumed.getmany(timeout_ms=10_000)
        while not batch:
            batch = await resumed.getmany(timeout_ms=10_000)
        first = next(iter(batch.values()))[0]
        assert first.value == b"tick-3"
    finally:
        await resumed.stop()


async def _partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
    finally:
        await admin.close()


async def test_overrides_give_the_counts_asked_for_and_other_counts_are_refused(
    kafka_bootstrap: str,
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}."
    names = {spec.name: prefix + spec.name for spec in all_topics()}
    overrides = "market.ticks.v1=5,market.bars.v1=5,signals.v1.dlq=2"
    specs = resolved_topics({PARTITIONS_VAR: "2", OVERRIDES_VAR: overrides})
    assert sorted(await ensure_topics(kafka_bootstrap, specs, names=names)) == sorted(
        names.values()
    )
    counts = await _partition_counts(kafka_bootstrap, list(names.values()))
    assert counts[names["market.ticks.v1"]] == counts[names["market.bars.v1"]] == 5
    assert counts[names["signals.v1"]] == counts[names["backtest.requests.v1"]] == 2
    assert counts[names["signals.v1.dlq"]] == 2 and counts[names["market.ticks.v1.dlq"]] == 1
    # The same counts again: nothing to do, nothing refused.
    assert await ensure_topics(kafka_bootstrap, specs, names=names) == []

    # Another count for existing topics is refused before anything is created or altered.
    fresh = f"{prefix}late.backtest.results.v1"
    later = resolved_topics(
        {PARTITIONS_VAR: "2", OVERRIDES_VAR: "market.ticks.v1=6,market.bars.v1=6"}
    )
    with pytest.raises(PartitionCountMismatch) as info:
        await ensure_topics(kafka_bootstrap, later, names={**names, "backtest.results.v1": fresh})
    message = str(info.value)
    assert f"{names['market.ticks.v1']} exists with 5 partitions, 6 wanted" in message
    assert f"{names['market.bars.v1']} exists with 5 partitions, 6 wanted" in message
    assert f"{names['signals.v1.dlq']} exists with 2 partitions, 1 wanted" in message
    assert f"{names['signals.v1']} exists" not in message
    assert "TITAN_TOPIC_PREFIX" in message and "replay" in message
    after = await _partition_counts(kafka_bootstrap, list(names.values()))
    assert after == counts
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        assert fresh not in await admin.list_topics()
    finally:
        await admin.close()
