"""One resolution of addresses, topic prefix and broker for every command and the client."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shared.runtime.endpoints import (
    lookup_endpoint,
    read_pipeline_state,
    resolve_kafka_bootstrap,
    resolve_topic_prefix,
    write_pipeline_state,
)
from titan.client import ServiceUnavailable
from titan.client.transport import Addresses


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in list(os.environ):
        if var.startswith("TITAN_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path))
    return tmp_path


def register(home: Path, service: str, url: str, pid: int) -> None:
    (home / "run").mkdir(exist_ok=True)
    (home / "run" / f"{service}.json").write_text(json.dumps({"url": url, "pid": pid}))


def dead_pid() -> int:
    pid = 2**22 + 17  # above Linux's default pid_max range of live processes here
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        pid += 1


def test_explicit_url_wins_then_environment_then_the_run_registry(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(home, "pairs", "http://127.0.0.1:1111/", os.getpid())
    addresses = Addresses({"pairs": "http://explicit:9/"}, home)
    assert addresses.url("pairs") == "http://explicit:9"
    assert Addresses({}, home).url("pairs") == "http://127.0.0.1:1111"
    monkeypatch.setenv("TITAN_PAIRS_URL", "http://from-env:8/")
    assert Addresses({}, home).url("pairs") == "http://from-env:8"


def test_a_registry_entry_of_a_dead_process_is_not_an_address(home: Path) -> None:
    register(home, "regime", "http://127.0.0.1:2222", dead_pid())
    assert lookup_endpoint("regime", home) is None
    with pytest.raises(ServiceUnavailable, match=r"regime is not running.*titan up"):
        Addresses({}, home).url("regime")


def test_another_home_is_read_when_given(
    home: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other-home")
    register(other, "signals", "http://127.0.0.1:3333", os.getpid())
    assert lookup_endpoint("signals") is None
    assert Addresses({}, other).url("signals") == "http://127.0.0.1:3333"


def test_topic_prefix_environment_then_the_local_pipeline_then_none(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_topic_prefix() == ""
    write_pipeline_state({"topic_prefix": "demoabc123.", "processes": {}})
    assert resolve_topic_prefix() == "demoabc123."
    assert read_pipeline_state(home) == {"topic_prefix": "demoabc123.", "processes": {}}
    assert Addresses({}, home).prefix() == "demoabc123."
    monkeypatch.setenv("TITAN_TOPIC_PREFIX", "")  # set, even empty: the user's choice wins
    assert resolve_topic_prefix() == ""
    assert Addresses({}, home, topic_prefix="mine.").prefix() == "mine."


def test_broker_from_environment_else_none_without_local_infrastructure(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_kafka_bootstrap() is None
    with pytest.raises(ServiceUnavailable, match="no Kafka broker"):
        Addresses({}, home).bootstrap()
    monkeypatch.setenv("TITAN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    assert Addresses({}, home).bootstrap() == "127.0.0.1:9092"
