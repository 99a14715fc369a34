from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data import data_file
from titan.cli import main

CRUDE = str(data_file("crude_brent_wti_monthly_1987_2020.csv.gz"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay", "/nowhere/prices.csv"], "no such file"),
        (["replay", CRUDE, "--speed", "fast"], "speed must be 'max' or a positive number"),
        (["replay", CRUDE, "--close-time", "25:00"], "HH:MM"),
        (["replay", CRUDE, "--malformed-rate", "2"], "within [0, 1]"),
        (["replay", CRUDE, "--layout", "long"], "columns look wide"),
        (["replay", CRUDE, "--symbols", "KO"], "symbol(s) KO"),
        (["websocket", "http://x", "--mapping", "{}"], "ws:// or wss://"),
        (["websocket", "ws://x", "--mapping", "{oops"], "mapping is not JSON"),
        (["websocket", "ws://x", "--match", "[1]"], "--match must be a JSON object"),
        (["websocket", "ws://x", "--max-ticks", "0"], "--max-ticks must be positive"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["feed", *argv]) == 2
    assert message in capsys.readouterr().err


def test_missing_broker_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TITAN_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path))
    assert main(["feed", "replay", CRUDE]) == 2
    assert "TITAN_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_dry_run_replays_a_bundled_file_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "feed",
        "replay",
        "crude_brent_wti_monthly_1987_2020",
        "--symbols",
        "WTI",
        "--dry-run",
        "--malformed-rate",
        "0.05",
        "--seed",
        "7",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ticks"] == 393 and summary["malformed"] == len(summary["malformed_ticks"]) > 0
