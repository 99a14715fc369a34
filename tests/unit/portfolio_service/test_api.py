"""The portfolio HTTP API over the in-memory store: answers, filters, and 4xx on bad input."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from core.portfolio import PortfolioConfig
from services.portfolio.api import build_router
from services.portfolio.store import PortfolioStore
from tests.unit.portfolio_service.builders import scenario, signal
from tests.unit.portfolio_service.driver import run_releases
from tests.unit.portfolio_service.fake_store import InMemoryPortfolioStore

CONFIG = PortfolioConfig(capital=100_000.0, max_pairs=5, drawdown_kill=0.3)


@pytest.fixture(scope="module")
def client() -> TestClient:
    inputs = scenario(12)
    inputs["signals.v1"].append(signal("CCC~BBB", "close", 11))  # decided at the last bar
    store = asyncio.run(run_releases(CONFIG, inputs)).store
    return client_over(store)


def client_over(store: InMemoryPortfolioStore) -> TestClient:
    @asynccontextmanager
    async def open_store() -> AsyncIterator[PortfolioStore]:
        yield store

    app = FastAPI()
    app.include_router(build_router(open_store, CONFIG))
    return TestClient(app)


def only_held(body: dict[str, list[dict[str, float]]]) -> list[dict[str, float]]:
    return [p for p in body["symbols"] if p["quantity"] != 0]


def test_positions_per_symbol_and_per_pair(client: TestClient) -> None:
    body = client.get("/portfolio/positions").json()
    assert body["bar_time"].startswith("2020-01-17")
    assert {p["symbol"] for p in body["symbols"] if p["quantity"] != 0} == {"BBB", "CCC"}
    assert all(p["quantity"] != 0 for p in only_held(body))
    assert "CCC~BBB" in {p["pair_id"] for p in body["pairs"]}  # AAA~BBB retired
    only = client.get("/portfolio/positions", params={"symbol": "CCC", "pair_id": "CCC~BBB"})
    assert [p["symbol"] for p in only.json()["symbols"]] == ["CCC"]
    assert [p["pair_id"] for p in only.json()["pairs"]] == ["CCC~BBB"]


def test_pnl_curve_oldest_first_within_range(client: TestClient) -> None:
    body = client.get("/portfolio/pnl", params={"start": "2020-01-08", "end": "2020-01-12"}).json()
    times = [p["bar_time"][:10] for p in body["curve"]]
    assert times == ["2020-01-08", "2020-01-09", "2020-01-10", "2020-01-11", "2020-01-12"]
    last = client.get("/portfolio/pnl", params={"limit": 2}).json()["curve"]
    assert [p["bar_time"][:10] for p in last] == ["2020-01-16", "2020-01-17"]


def test_risk_state_and_limits(client: TestClient) -> None:
    body = client.get("/portfolio/risk").json()
    assert body["limits"]["max_pairs"] == 5 and body["limits"]["drawdown_kill"] == 0.3
    assert body["state"]["kill_switch"] is False
    assert body["state"]["active_pairs"] == 1
    assert body["state"]["gross_leverage"] == pytest.approx(
        body["state"]["gross_exposure"] / body["state"]["equity"]
    )


def test_orders_with_status_and_filters(client: TestClient) -> None:
    everything = client.get("/portfolio/orders").json()["orders"]
    assert {o["status"] for o in everything} == {"planned", "filled"}
    planned = client.get("/portfolio/orders", params={"status": "planned"}).json()["orders"]
    # decided at the last bar: nothing to fill them yet
    assert planned and all(o["decided_at"].startswith("2020-01-17") for o in planned)
    filled = client.get("/portfolio/orders", params={"status": "filled", "symbol": "AAA"})
    assert all(o["symbol"] == "AAA" and o["fill_price"] > 0 for o in filled.json()["orders"])


def test_empty_book_answers_with_nothing() -> None:
    empty = client_over(InMemoryPortfolioStore())
    assert empty.get("/portfolio/positions").json()["symbols"] == []
    assert empty.get("/portfolio/risk").json()["state"] is None
    assert empty.get("/portfolio/rejections").json() == {"portfolio": "default",
                                                         "rejections": [], "count": 0}  # fmt: skip


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/portfolio/pnl", {"limit": "0"}),
        ("/portfolio/pnl", {"limit": "x"}),
        ("/portfolio/pnl", {"start": "yesterday"}),
        ("/portfolio/pnl", {"start": "2020-02-01", "end": "2020-01-01"}),
        ("/portfolio/orders", {"status": "lost"}),
        ("/portfolio/orders", {"limit": "100001"}),
        ("/portfolio/orders", {"symbol": ""}),
        ("/portfolio/rejections", {"limit": "-1"}),
    ],
)
def test_bad_query_input_is_a_4xx(client: TestClient, path: str, params: dict[str, str]) -> None:
    response = client.get(path, params=params)
    assert 400 <= response.status_code < 500, response.text
