"""Settings come from TITAN_* variables, are validated at start-up, and never leak secrets."""

from __future__ import annotations

import pytest

from services.market_data.bootstrap import MarketDataSettings
from shared.settings import KafkaSettings, ServiceSettings, load_or_exit


def test_valid_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://u:s3cret@db/titan")
    monkeypatch.setenv("TITAN_BATCH_MAX_RECORDS", "1234")
    monkeypatch.setenv("TITAN_TOPIC_PREFIX", "tenant1.")
    settings = load_or_exit(ServiceSettings)
    assert settings.batch_max_records == 1234
    assert settings.topic_prefix == "tenant1."
    assert "s3cret" not in repr(settings)
    assert settings.database_url.get_secret_value().endswith("@db/titan")


def test_bad_values_exit_2_naming_each_variable_without_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://u:s3cret@db/titan")
    monkeypatch.setenv("TITAN_BATCH_MAX_RECORDS", "-5")
    monkeypatch.setenv("TITAN_HTTP_PORT", "70000")
    with pytest.raises(SystemExit) as exc:
        load_or_exit(ServiceSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "TITAN_BATCH_MAX_RECORDS" in err
    assert "TITAN_HTTP_PORT" in err
    assert "s3cret" not in err


def test_missing_database_url_has_no_default(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TITAN_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit):
        load_or_exit(ServiceSettings)
    assert "TITAN_DATABASE_URL" in capsys.readouterr().err


def test_service_specific_settings_are_validated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TITAN_DATABASE_URL", "postgresql://u:p@db/titan")
    monkeypatch.setenv("TITAN_BAR_INTERVALS", "1m,5x")
    with pytest.raises(SystemExit):
        load_or_exit(MarketDataSettings)
    assert "TITAN_BAR_INTERVALS" in capsys.readouterr().err


def test_sasl_needs_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_KAFKA_BOOTSTRAP", "kafka:9093")
    monkeypatch.setenv("TITAN_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(SystemExit):
        load_or_exit(KafkaSettings)
    monkeypatch.setenv("TITAN_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TITAN_KAFKA_SASL_USERNAME", "titan")
    monkeypatch.setenv("TITAN_KAFKA_SASL_PASSWORD", "pw-not-logged")
    kafka = load_or_exit(KafkaSettings)
    kwargs = kafka.client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert "pw-not-logged" not in repr(kafka)


async def test_session_timeout_sets_the_consumers_session_and_heartbeat(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from shared.runtime.consumer import make_consumer

    monkeypatch.setenv("TITAN_KAFKA_BOOTSTRAP", "kafka:9092")
    assert load_or_exit(KafkaSettings).session_timeout_ms == 45_000  # Kafka's default
    monkeypatch.setenv("TITAN_KAFKA_SESSION_TIMEOUT_MS", "6000")
    consumer = make_consumer(load_or_exit(KafkaSettings), "g", "c", max_records=10)
    # A heartbeat at most a third of the session: two may be lost before the member is.
    try:
        assert consumer._session_timeout_ms == 6000
        assert consumer._heartbeat_interval_ms == 2000
    finally:
        await consumer.stop()  # never started: only closes its client object
    monkeypatch.setenv("TITAN_KAFKA_SESSION_TIMEOUT_MS", "500")  # below the broker's floor
    with pytest.raises(SystemExit):
        load_or_exit(KafkaSettings)
    assert "TITAN_KAFKA_SESSION_TIMEOUT_MS" in capsys.readouterr().err
