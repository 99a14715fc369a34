"""Every running service's OpenAPI document puts the bearer lock on what needs the token.

Swagger UI shows a lock and an Authorize button only for operations whose document says
so; the services of the session's running demo are read as a user's browser would.
"""

from __future__ import annotations

import httpx
import pytest

from shared.runtime.endpoints import lookup_endpoint
from tests.integration.running_titan import RunningTitan

pytestmark = pytest.mark.integration
SERVICES = ("market_data", "pairs", "regime", "signals", "backtest")
MUTATING = {"post", "put", "patch", "delete"}


def test_every_service_declares_the_bearer_scheme_on_its_mutating_endpoints(
    running_titan: RunningTitan,
) -> None:
    mutations: dict[str, list[str]] = {}
    for service in SERVICES:
        url = lookup_endpoint(service, running_titan.home)
        assert url is not None, f"{service} is not running"
        doc = httpx.get(f"{url}/openapi.json", timeout=30).raise_for_status().json()
        assert doc["components"]["securitySchemes"]["bearerAuth"] == {
            "type": "http",
            "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
        }
        for path, operations in doc["paths"].items():
            for method, operation in operations.items():
                locked = operation.get("security") == [{"bearerAuth": []}]
                # The demo leaves reads open (TITAN_API_TOKEN_READS unset).
                assert locked == (method in MUTATING), f"{service}: {method.upper()} {path}"
                if locked:
                    mutations.setdefault(service, []).append(f"{method.upper()} {path}")
    assert "POST /screen" in mutations["pairs"]
    assert "POST /backtests" in mutations["backtest"]
    assert "POST /walk-forwards" in mutations["backtest"]
