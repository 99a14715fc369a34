"""The broker login probe and the SCRAM listener's configuration, without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.infra.kafka import KafkaError
from shared.infra.kafka_sasl import ScramTlsListener
from shared.runtime.broker_login import _bootstrap_hosts, check_broker_login


def _listener(**users: str) -> ScramTlsListener:
    return ScramTlsListener(
        Path("ks.p12"), "ks-pass", Path("ca.pem"), users=users, broker_user="broker"
    )


async def test_a_plaintext_broker_has_no_login_to_check() -> None:
    # Port 9 (discard) is closed on loopback: a probe would fail, so none is made.
    await check_broker_login({"bootstrap_servers": "127.0.0.1:9"})


async def test_an_unreachable_broker_is_transient_not_a_refused_login() -> None:
    from aiokafka.errors import KafkaConnectionError

    from shared.runtime.retry import is_transient

    with pytest.raises(KafkaConnectionError, match="no bootstrap broker reachable") as caught:
        await check_broker_login(
            {"bootstrap_servers": "127.0.0.1:9", "security_protocol": "SASL_PLAINTEXT",
             "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "titan",
             "sasl_plain_password": "x"}
        )  # fmt: skip
    assert is_transient(caught.value)


def test_bootstrap_lists_are_split_into_hosts_and_ports() -> None:
    assert _bootstrap_hosts("a:9092, b.example:9093,[::1]:9094") == [
        ("a", 9092), ("b.example", 9093), ("::1", 9094),
    ]  # fmt: skip


def test_the_scram_listener_logs_the_broker_in_as_one_of_its_users() -> None:
    listener = _listener(broker="b-pass", titan="t-pass")
    props = listener.server_properties(9093, 9094)
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:9093"
    jaas = props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert 'username="broker" password="b-pass";' in jaas
    assert listener.format_args() == [
        "--add-scram", "SCRAM-SHA-512=[name=broker,password=b-pass]",
        "--add-scram", "SCRAM-SHA-512=[name=titan,password=t-pass]",
    ]  # fmt: skip


def test_a_broker_user_without_credentials_is_refused() -> None:
    with pytest.raises(KafkaError, match="broker_user 'broker' is not one of the SCRAM users"):
        _listener(titan="t-pass")


@pytest.mark.parametrize("password", ['a"b', "a,b", "a]b", "a=b", "a\\b"])
def test_a_password_the_storage_tool_or_jaas_would_split_is_refused(password: str) -> None:
    with pytest.raises(KafkaError, match="SCRAM user 'titan'"):
        _listener(broker="b-pass", titan=password)
