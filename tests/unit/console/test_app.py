"""The console's HTTP surface in process: bad input is a 404/400 (HTML for a browser, JSON
under /api/), an unreachable service a 503, never a 500; pages and assets are served."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.console import pages
from services.console.bootstrap import build
from services.console.gateway import Upstream, http_error
from shared.runtime.auth import BearerAuth
from shared.runtime.metrics import RuntimeMetrics
from titan.client.errors import Conflict, NotFound, ServiceError, ServiceUnavailable

HTML = {"Accept": "text/html,application/xhtml+xml"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.fixture
def client() -> Iterator[TestClient]:
    down = f"http://127.0.0.1:{_closed_port()}"
    upstream = Upstream(urls={s: down for s in ("pairs", "regime", "signals", "portfolio",
                                                  "backtest")})  # fmt: skip
    app = build(upstream, RuntimeMetrics("console"), BearerAuth(SecretStr("t" * 40)))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/regime", "/signals", "/portfolio", "/backtests"])
def test_every_page_is_served_with_its_name_and_the_local_assets(
    client: TestClient, path: str
) -> None:
    response = client.get(path, headers=HTML)
    assert response.status_code == 200
    assert 'data-page="' in response.text and pages.CHARTS_JS in response.text
    assert "cdn" not in response.text.lower()


def test_a_malformed_pair_is_a_404_page_for_a_browser_and_json_under_api(
    client: TestClient,
) -> None:
    page = client.get("/pairs/<script>", headers=HTML)
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "<script>" not in page.text.split("<main", 1)[1]  # escaped
    api = client.get("/api/pairs/not-a-pair")
    assert api.status_code == 404 and "SYMBOL~SYMBOL" in api.json()["detail"]


def test_a_bad_query_is_a_400_and_a_service_down_a_503(client: TestClient) -> None:
    assert client.get("/api/pairs/KO~PEP", params={"max_points": 1}).status_code == 400
    down = client.get("/api/pairs")
    assert down.status_code == 503 and "unreachable" in down.json()["detail"]
    assert client.get("/pairs/KO~PEP", headers=HTML).status_code == 503


def test_static_script_and_ops_endpoints(client: TestClient) -> None:
    assert "EventSource" in client.get("/static/console.js").text
    assert client.get("/readyz").json()["ready"] is True
    assert "titan_" in client.get("/metrics").text


def test_upstream_errors_keep_their_meaning() -> None:
    assert http_error(NotFound("no", service="pairs")).status_code == 404
    assert http_error(Conflict("running", service="backtest")).status_code == 409
    assert http_error(ServiceUnavailable("down", service="regime")).status_code == 503
    assert http_error(ServiceError("boom", service="regime", status=500)).status_code == 502
