"""A local KRaft broker whose only client listener is SASL_SSL with SCRAM logins.

What a cluster runs (Strimzi's `tls` + `scram-sha-512` listener), on one machine: clients
must present a SCRAM user and trust the broker's certificate; nothing else is accepted.
The controller listener stays plaintext on the loopback interface because only the node
itself talks to it. Certificates are the caller's (tests make them with openssl).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.infra.kafka import KafkaBroker, KafkaError, start_kafka

SCRAM_MECHANISM = "SCRAM-SHA-512"
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class ScramTlsListener:
    """The broker's side of SASL_SSL.

    keystore: PKCS12 file with the broker's private key and certificate (its subject names
    must include 127.0.0.1, the address clients check it against); truststore: PEM of the
    certificate authority the broker's own inter-broker client trusts; users: SCRAM login ->
    password, created in the cluster metadata at format time; broker_user: the one of them
    the broker itself logs in as.
    """

    keystore: Path
    keystore_password: str
    truststore: Path
    users: Mapping[str, str]
    broker_user: str

    def __post_init__(self) -> None:
        if self.broker_user not in self.users:
            raise KafkaError(f"broker_user {self.broker_user!r} is not one of the SCRAM users")
        for name, password in self.users.items():
            # The storage tool parses `[name=...,password=...]`: these characters would
            # split or end the entry, and a quote would end the JAAS string.
            if any(c in name + password for c in ',]="\\'):
                raise KafkaError(f'SCRAM user {name!r}: name or password holds one of ,]="\\')

    def server_properties(self, port: int, controller_port: int) -> dict[str, str]:
        broker_password = self.users[self.broker_user]
        return {
            "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
            "inter.broker.listener.name": "SASL_SSL",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "sasl.mechanism.inter.broker.protocol": SCRAM_MECHANISM,
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config": (
                f'{_SCRAM_LOGIN} required username="{self.broker_user}" '
                f'password="{broker_password}";'
            ),
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.keystore),
            "ssl.keystore.password": self.keystore_password,
            "ssl.key.password": self.keystore_password,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.truststore),
            "ssl.client.auth": "none",
        }

    def format_args(self) -> list[str]:
        args: list[str] = []
        for name, password in self.users.items():
            args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
        return args


def start_scram_tls_kafka(
    data_dir: Path,
    listener: ScramTlsListener,
    *,
    port: int,
    controller_port: int,
    version: str | None = None,
) -> KafkaBroker:
    """Format (with the SCRAM users) and start the broker; returns at once. Wait for it with
    `wait_kafka_ready(broker, client_kwargs=KafkaSettings(...).client_kwargs())`."""
    return start_kafka(
        data_dir,
        port=port,
        controller_port=controller_port,
        version=version,
        overrides=listener.server_properties(port, controller_port),
        format_args=listener.format_args(),
    )
