"""SASL/SCRAM-SHA-512 over TLS against a real broker that accepts nothing else.

The broker is started here (its own folder, free ports) with certificates made by openssl
and SCRAM users written at format time. The feed (`titan feed replay`) and market_data
(`titan run market_data`) are child processes configured only by TITAN_KAFKA_* variables,
as a cluster deployment configures them; the test reads their output back over SASL_SSL.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.market_data.data import bundled_file
from services.market_data.feeds.replay import replay_ticks
from shared.infra.kafka import KafkaBroker, ensure_topics, wait_kafka_ready
from shared.infra.kafka_sasl import ScramTlsListener, start_scram_tls_kafka
from shared.infra.ports import free_ports
from shared.infra.process import stop_pid
from shared.runtime.broker_login import BrokerLoginRefused, check_broker_login
from shared.runtime.watermarks import is_watermark
from shared.settings import KafkaSettings
from shared.topic_partitions import resolved_topics
from tests.integration.market_data_support import db_bars
from tests.integration.streams import REPO, ServiceProcess, wait_consumed
from tests.integration.tls_certs import make_broker_certificates
from titan.cli import main as titan_main

pytestmark = pytest.mark.integration
TICKS = "market.ticks.v1"
BARS = "market.bars.v1"
CRUDE = "crude_brent_wti_monthly_1987_2020"
CANNOT_CONTINUE = 3  # titan/commands/run.py


@dataclass(frozen=True)
class ScramBroker:
    broker: KafkaBroker
    ca_pem: Path
    password: str

    def settings(self, password: str | None = None, cafile: Path | None = None) -> KafkaSettings:
        return KafkaSettings(
            bootstrap=self.broker.bootstrap, security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512", sasl_username="titan",
            sasl_password=password or self.password, ssl_cafile=str(cafile or self.ca_pem),
        )  # fmt: skip

    def env(self, password: str | None = None) -> dict[str, str]:
        return {
            "TITAN_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "TITAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "TITAN_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "TITAN_KAFKA_SASL_USERNAME": "titan",
            "TITAN_KAFKA_SASL_PASSWORD": password or self.password,
            "TITAN_KAFKA_SSL_CAFILE": str(self.ca_pem),
        }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def scram_broker(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ScramBroker]:
    folder = tmp_path_factory.mktemp("kafka-sasl-ssl")
    certs = make_broker_certificates(folder / "tls", secrets.token_hex(12))
    password = secrets.token_hex(12)
    listener = ScramTlsListener(
        certs.keystore, certs.keystore_password, certs.ca_pem,
        users={"broker": secrets.token_hex(12), "titan": password}, broker_user="broker",
    )  # fmt: skip
    port, controller_port = free_ports(2)
    broker = start_scram_tls_kafka(
        folder / "kafka", listener, port=port, controller_port=controller_port
    )
    scram = ScramBroker(broker, certs.ca_pem, password)
    try:
        await wait_kafka_ready(broker, client_kwargs=scram.settings().client_kwargs())
        yield scram
    finally:
        # Throw-away data: no clean shutdown to wait for.
        stop_pid(broker.pid, 5.0, signal.SIGKILL)


async def _read_all(kafka: KafkaSettings, topic: str) -> list[dict[str, object]]:
    """Every event on `topic` (watermarks left out), read with the given login."""
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(await _partitions(consumer, topic))]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        events: list[dict[str, object]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                events += [
                    json.loads(m.value or b"null") for m in messages if not is_watermark(m.headers)
                ]
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
        return events
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    for _ in range(50):
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise AssertionError(f"no partitions for {topic}")


def _titan(
    argv: list[str], env: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "titan.cli", *argv], env={**os.environ, **env}, cwd=REPO,
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip


async def test_feed_and_market_data_run_end_to_end_over_sasl_ssl(
    scram_broker: ScramBroker,
    service_dsn: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    kafka = scram_broker.settings()
    prefix = f"t{secrets.token_hex(4)}."
    names = {spec.name: prefix + spec.name for spec in resolved_topics()}
    await ensure_topics(
        scram_broker.broker.bootstrap, resolved_topics(), names=names,
        client_kwargs=kafka.client_kwargs(),
    )  # fmt: skip
    dsn = service_dsn("market_data")
    env = {**scram_broker.env(), "TITAN_TOPIC_PREFIX": prefix, "TITAN_HOME": str(tmp_path),
           "TITAN_DATABASE_URL": dsn, "TITAN_BAR_INTERVALS": "1d",
           "TITAN_DECODE_WORKER": "false"}  # fmt: skip

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(titan_main, ["feed", "replay", CRUDE]) == 0
    ticks = replay_ticks(bundled_file(CRUDE))  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["sent"] == len(ticks)

    service = ServiceProcess("market_data", env, tmp_path / "market_data.log")
    service.start()
    try:
        consumer = AIOKafkaConsumer(**kafka.client_kwargs())
        await consumer.start()
        try:
            tps = [
                TopicPartition(names[TICKS], p) for p in await _partitions(consumer, names[TICKS])
            ]
            ends = {
                (tp.topic, tp.partition): o for tp, o in (await consumer.end_offsets(tps)).items()
            }
        finally:
            await consumer.stop()
        await wait_consumed(dsn, "market_data", ends, timeout_s=60)
        stored = await db_bars(dsn)
        published: list[dict[str, object]] = []
        for _ in range(100):  # the outbox publishes right after each commit
            published = await _read_all(kafka, names[BARS])
            if len(published) >= len(stored):
                break
            await asyncio.sleep(0.2)
    finally:
        assert service.terminate() == 0, (tmp_path / "market_data.log").read_text()[-3000:]

    # One daily bar per tick (monthly prices), every one closed by the feed's end of input.
    assert len(stored) == len(ticks)
    payloads = [e["payload"] for e in published]
    assert sorted((p["symbol"], p["close"]) for p in payloads) == sorted(  # type: ignore[index]
        (t.symbol, t.price) for t in ticks
    )
    assert {e["event_type"] for e in published} == {"Bar"}
    assert {p["revision"] for p in payloads} == {0}  # type: ignore[index]


async def test_a_wrong_password_or_an_unknown_ca_is_refused_with_a_clear_error(
    scram_broker: ScramBroker,
    service_dsn: Callable[[str], str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wrong = "not-" + scram_broker.password
    with pytest.raises(BrokerLoginRefused, match="refused the SASL login of user 'titan'"):
        await check_broker_login(scram_broker.settings(password=wrong).client_kwargs())
    other_ca = make_broker_certificates(tmp_path / "other-ca", "unused-password").ca_pem
    with pytest.raises(BrokerLoginRefused, match=r"failed verification.*TITAN_KAFKA_SSL_CAFILE"):
        await check_broker_login(scram_broker.settings(cafile=other_ca).client_kwargs())

    env = {**scram_broker.env(password=wrong), "TITAN_HOME": str(tmp_path),
           "TITAN_DATABASE_URL": service_dsn("market_data"), "TITAN_DECODE_WORKER": "false"}  # fmt: skip
    run = await asyncio.to_thread(_titan, ["run", "market_data"], env, 60)
    # Stopped at once with the reason, not retried for minutes as if the broker were down.
    assert run.returncode == CANNOT_CONTINUE, run.stdout[-2000:] + run.stderr[-2000:]
    assert "cannot continue: the Kafka broker at" in run.stderr
    assert "refused the SASL login of user 'titan' (SCRAM-SHA-512)" in run.stderr
    assert wrong not in run.stdout + run.stderr

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert await asyncio.to_thread(titan_main, ["feed", "replay", CRUDE]) == 2
    err = capsys.readouterr().err
    assert "titan feed: the Kafka broker at" in err
    assert "refused the SASL login" in err
