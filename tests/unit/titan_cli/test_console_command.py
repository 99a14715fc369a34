"""`titan console`: registered with the CLI, refuses a bad timeout, never opens a text
browser on a machine with no display (pure: no server is started)."""

from __future__ import annotations

import sys

import pytest

from titan.cli import build_parser, main
from titan.commands.console import browser_available


def test_the_command_is_registered_with_its_options() -> None:
    args = build_parser().parse_args(["console", "--no-browser", "--timeout", "5"])
    assert args.no_browser is True and args.timeout == 5.0 and callable(args.func)


def test_a_non_positive_timeout_is_refused_precisely(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--no-browser", "--timeout", "0"]) == 2
    assert "--timeout must be positive" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display rule is Linux's")
def test_no_display_means_no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert browser_available() is False
