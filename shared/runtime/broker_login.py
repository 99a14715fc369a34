"""Tell a refused broker login apart from a broker that is down.

aiokafka logs a failed SASL handshake or an untrusted broker certificate and then raises
the same KafkaConnectionError("Unable to bootstrap") as for a stopped broker, which the
runtime rightly retries. Retrying a wrong password never helps: it would keep a service
in a silent retry loop for minutes. One probe connection, made with the very settings the
clients use, names the cause so the caller can stop with it.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

PROBE_TIMEOUT_MS = 10_000
_LOGIN_ERRORS = (SaslAuthenticationFailed, UnsupportedSaslMechanismError, IllegalSaslStateError)


class BrokerLoginRefused(RuntimeError):
    """The broker refused the credentials or its certificate is not trusted: not transient."""


def _bootstrap_hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        hosts.append((host.strip("[]"), int(port)))
    return hosts


def _refusal(host: str, port: int, kwargs: Mapping[str, object], exc: Exception) -> str:
    where = f"the Kafka broker at {host}:{port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"{where} presented a certificate that failed verification "
            f"({exc.verify_message or exc}); set TITAN_KAFKA_SSL_CAFILE to the CA that signed it"
        )
    user, mechanism = kwargs.get("sasl_plain_username"), kwargs.get("sasl_mechanism")
    return (
        f"{where} refused the SASL login of user {user!r} ({mechanism}): {exc}; check "
        "TITAN_KAFKA_SASL_USERNAME, TITAN_KAFKA_SASL_PASSWORD and TITAN_KAFKA_SASL_MECHANISM"
    )


async def check_broker_login(client_kwargs: Mapping[str, object]) -> None:
    """Log in to a bootstrap broker as the clients will (KafkaSettings.client_kwargs()).

    Returns once one broker accepted the login. Raises BrokerLoginRefused when every broker
    answered and at least one refused it, KafkaConnectionError (transient: retry it) when
    none could be reached. A plaintext connection has no login to check.
    """
    protocol = str(client_kwargs.get("security_protocol", "PLAINTEXT"))
    if protocol == "PLAINTEXT":
        return
    refusals: list[str] = []
    unreachable: list[str] = []
    for host, port in _bootstrap_hosts(str(client_kwargs["bootstrap_servers"])):
        try:
            conn = await create_conn(
                host, port, client_id="titan-login-check", request_timeout_ms=PROBE_TIMEOUT_MS,
                ssl_context=client_kwargs.get("ssl_context"), security_protocol=protocol,
                sasl_mechanism=client_kwargs.get("sasl_mechanism"),
                sasl_plain_username=client_kwargs.get("sasl_plain_username"),
                sasl_plain_password=client_kwargs.get("sasl_plain_password"),
            )  # fmt: skip
        except (*_LOGIN_ERRORS, ssl.SSLCertVerificationError) as exc:
            refusals.append(_refusal(host, port, client_kwargs, exc))
            continue
        except (OSError, TimeoutError, KafkaConnectionError) as exc:
            unreachable.append(f"{host}:{port}: {type(exc).__name__}: {exc}")
            continue
        conn.close()
        return
    if refusals:
        raise BrokerLoginRefused("; ".join(refusals))
    raise KafkaConnectionError("no bootstrap broker reachable: " + "; ".join(unreachable))
