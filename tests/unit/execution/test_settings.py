"""TITAN_EXECUTION_*: the API key is required and never shown; a bad URL is named."""

from __future__ import annotations

import pytest

from services.execution.settings import ExecutionSettings
from shared.settings import load_or_exit

BASE = {"TITAN_DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/titan"}


def test_the_key_pair_is_required_and_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in BASE.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        load_or_exit(ExecutionSettings)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "TITAN_EXECUTION_API_KEY_ID" in err and "TITAN_EXECUTION_API_SECRET_KEY" in err


def test_secrets_are_hidden_and_the_defaults_point_at_paper_trading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**BASE, "TITAN_EXECUTION_API_KEY_ID": "PKID123",
                        "TITAN_EXECUTION_API_SECRET_KEY": "s3cret"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    settings = ExecutionSettings()
    assert "s3cret" not in repr(settings) and "PKID123" not in repr(settings)
    assert settings.credentials().secret_key == "s3cret"
    assert settings.execution_broker_url == "https://paper-api.alpaca.markets"
    assert settings.claim_lease_s == 4 * settings.execution_request_timeout_s


def test_a_broker_url_that_is_not_http_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**BASE, "TITAN_EXECUTION_API_KEY_ID": "k",
                        "TITAN_EXECUTION_API_SECRET_KEY": "s",
                        "TITAN_EXECUTION_BROKER_URL": "paper-api.alpaca.markets"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match="execution_broker_url"):
        ExecutionSettings()
