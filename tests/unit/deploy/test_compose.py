"""deploy/compose.yaml: every TITAN service gets the API token from deploy/.env, and compose
refuses to start without one (no service ever answers a mutation without a token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
TITAN_SERVICES = sorted(
    name for name, spec in COMPOSE["services"].items() if spec.get("command", [""])[0] == "run"
)


def test_the_titan_services_are_found() -> None:
    assert {"market_data", "pairs", "backtest"} <= set(TITAN_SERVICES)


@pytest.mark.parametrize("name", TITAN_SERVICES)
def test_each_service_requires_the_api_token_from_the_env_file(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    assert env["TITAN_API_TOKEN"] == "${TITAN_API_TOKEN:?set TITAN_API_TOKEN in deploy/.env}"
    assert env["TITAN_API_TOKEN_READS"] == "${TITAN_API_TOKEN_READS:-false}"


def test_the_env_example_names_the_token() -> None:
    lines = (DEPLOY / ".env.example").read_text().splitlines()
    assert "TITAN_API_TOKEN=" in lines
