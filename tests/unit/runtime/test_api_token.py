"""The local API token file and the token settings: made once with 0600, the same token for
every process that races to make it, and a deployment's TITAN_API_TOKEN validated."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.runtime.api_token import api_token_path, ensure_local_api_token, read_local_api_token
from shared.settings import ServiceSettings, load_or_exit


def test_the_first_need_makes_a_0600_token_and_later_ones_read_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert read_local_api_token(home) is None
    made = ensure_local_api_token(home)
    assert stat.S_IMODE(api_token_path(home).stat().st_mode) == 0o600
    assert len(made.get_secret_value()) >= 40  # 32 random bytes, URL-safe base64
    assert ensure_local_api_token(home) == made
    assert read_local_api_token(home) == made
    assert sorted(p.name for p in home.iterdir()) == ["api-token"]  # nothing left aside


def test_tokens_of_two_homes_differ(tmp_path: Path) -> None:
    assert ensure_local_api_token(tmp_path / "a") != ensure_local_api_token(tmp_path / "b")


def test_services_starting_together_all_get_the_same_token(tmp_path: Path) -> None:
    start = threading.Barrier(8)
    tokens: list[SecretStr] = []

    def service() -> None:
        start.wait()
        tokens.append(ensure_local_api_token(tmp_path))

    threads = [threading.Thread(target=service) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(tokens) == 8 and len({t.get_secret_value() for t in tokens}) == 1
    assert read_local_api_token(tmp_path) == tokens[0]


def test_an_empty_token_file_is_a_clear_error(tmp_path: Path) -> None:
    api_token_path(tmp_path).write_text("\n")
    with pytest.raises(RuntimeError, match="holds no token; delete it"):
        ensure_local_api_token(tmp_path)


def test_the_deployment_token_and_reads_switch_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TITAN_API_TOKEN", "k8s-secret-0123456789abcdef")
    monkeypatch.setenv("TITAN_API_TOKEN_READS", "true")
    settings = ServiceSettings(database_url=SecretStr("postgresql://x"))
    assert settings.api_token == SecretStr("k8s-secret-0123456789abcdef")
    assert settings.api_token_reads is True
    assert "k8s-secret" not in repr(settings)


def test_unset_means_the_local_token_and_open_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TITAN_API_TOKEN", raising=False)
    monkeypatch.delenv("TITAN_API_TOKEN_READS", raising=False)
    settings = ServiceSettings(database_url=SecretStr("postgresql://x"))
    assert (settings.api_token, settings.api_token_reads) == (None, False)


@pytest.mark.parametrize("value", ["", "   ", "short-token"])
def test_an_empty_or_short_deployment_token_stops_start_up_without_printing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    monkeypatch.setenv("TITAN_API_TOKEN", value)
    with pytest.raises(SystemExit) as exit_:
        load_or_exit(ServiceSettings, database_url="postgresql://x")
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "TITAN_API_TOKEN: Value error, must be at least 16 characters" in err
    assert value.strip() == "" or value not in err


def test_the_file_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        ensure_local_api_token(tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(api_token_path(tmp_path).stat().st_mode) == 0o600
