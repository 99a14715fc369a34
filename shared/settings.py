"""Typed settings from TITAN_* environment variables, validated at start-up.

Secrets are SecretStr and have no defaults in code. When TITAN_KAFKA_BOOTSTRAP or
TITAN_DATABASE_URL are unset, the embedded local infrastructure (`titan infra up`) is used:
its state file holds the broker address and one DSN per service role.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

S = TypeVar("S", bound=BaseSettings)
MIN_API_TOKEN_CHARS = 16
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]


class KafkaSettings(BaseSettings):
    """Broker connection: plaintext on a laptop, SASL/SCRAM over TLS in a cluster."""

    model_config = SettingsConfigDict(env_prefix="TITAN_KAFKA_", extra="ignore")

    bootstrap: str = Field(min_length=3)
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    # How long the group waits for a consumer that stopped heartbeating (a SIGKILLed pod)
    # before its partitions move: Kafka's 45 s default. 6 s is the broker's floor
    # (group.min.session.timeout.ms); tests that kill services use it to resume quickly.
    session_timeout_ms: int = Field(45_000, ge=6_000, le=1_800_000)

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL"):
            missing = [
                name
                for name, value in (
                    ("TITAN_KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                    ("TITAN_KAFKA_SASL_USERNAME", self.sasl_username),
                    ("TITAN_KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if value is None
            ]
            if missing:
                raise ValueError(f"{self.security_protocol} needs {', '.join(missing)}")
        return self

    def client_kwargs(self) -> dict[str, object]:
        """Keyword arguments shared by aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, object] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kwargs


class ServiceSettings(BaseSettings):
    """Settings every service shares; services subclass this to add their own."""

    model_config = SettingsConfigDict(env_prefix="TITAN_", extra="ignore")

    database_url: SecretStr
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=0, ge=0, le=65535)  # 0 = pick a free port
    # Request bodies past this are answered 413 unread (shared/runtime/http.py).
    http_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=1 << 30)
    consumer_group: str | None = None
    # Prepended to every contract topic name; lets tests (and tenants) share one broker.
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    batch_max_records: int = Field(default=5000, ge=1, le=100_000)
    # 200 ms: long enough to fill a batch at tens of thousands of records/s, short enough
    # that a quiet stream still sees sub-second end-to-end latency.
    batch_timeout_ms: int = Field(default=200, ge=1, le=60_000)
    # Unsent outbox rows are re-published on this period; 5 s bounds how stale an event can
    # be after a broker outage without hammering the broker while it is down.
    outbox_relay_interval_s: float = Field(default=5.0, gt=0.0, le=3600.0)
    # How long consumed event ids are remembered to tell copies and reused ids (event_ids.py).
    seen_events_keep_days: float = Field(default=7.0, gt=0.0, le=3650.0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Live feeds: the longest an event waits for a lagging input's watermark before the
    # service decides without it (counted, logged and stored in forced_releases). Unset:
    # wait as long as it takes, so live output always equals a replay's (contract rule 7).
    max_watermark_wait_s: float | None = Field(default=None, gt=0.0, le=86_400.0)
    # Fault injection (determinism checks, `titan demo --chaos`): after each batch the
    # consumer sleeps a random 0..N ms, so batches and interleavings differ run to run.
    fault_batch_delay_ms: int = Field(default=0, ge=0, le=10_000)
    # Bearer token of the HTTP API: every POST/PUT/PATCH/DELETE needs it, reads too when
    # api_token_reads. Unset: the local token under TITAN_HOME (shared/runtime/api_token.py),
    # made on first need, which the CLI and titan.client read with no extra step.
    api_token: SecretStr | None = None
    api_token_reads: bool = False

    @field_validator("api_token")
    @classmethod
    def _token_strong_enough(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty TITAN_API_TOKEN (a blank line in deploy/.env) must not silently fall back
        # to a token nobody outside the container knows; a short one is guessable.
        if token is not None and len(token.get_secret_value().strip()) < MIN_API_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_API_TOKEN_CHARS} characters")
        return token


def load_or_exit(cls: type[S], **overrides: object) -> S:
    """Build settings or exit with one line per bad variable (never printing secret values)."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = [f"invalid configuration for {cls.__name__}:"]
        prefix = str(cls.model_config.get("env_prefix", ""))
        for err in exc.errors():
            name = prefix + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {name}: {err['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
