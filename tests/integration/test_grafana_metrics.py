"""Every metric name used by the Grafana dashboards (deploy/grafana) is on the /metrics of a
live service: the six services run on real Kafka and PostgreSQL and are scraped over HTTP.
The same services serve /docs with their own Swagger UI assets."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from shared.settings import KafkaSettings
from tests.grafana_dashboards import dashboards, exposed_names, expressions, metric_names
from tests.integration.streams import running_service
from titan.commands.run import SERVICES

pytestmark = pytest.mark.integration

NAMES = ("market_data", "pairs", "regime", "signals", "backtest", "portfolio")
SETTINGS = {
    "market_data": "MarketDataSettings",
    "pairs": "PairsSettings",
    "regime": "RegimeSettings",
    "signals": "SignalsSettings",
    "backtest": "BacktestSettings",
    "portfolio": "PortfolioSettings",
}


async def test_every_dashboard_metric_is_exposed_by_a_running_service(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    topics = await make_topics()
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    scrapes: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        ports: dict[str, int] = {}
        for name in NAMES:
            module = importlib.import_module(SERVICES[name])
            settings = getattr(module, SETTINGS[name])(
                database_url=await fresh_database(name), topic_prefix=topics.prefix
            )
            runner = await stack.enter_async_context(
                running_service(module.definition(), settings, kafka)
            )
            assert runner.http_port is not None
            ports[name] = runner.http_port
        async with httpx.AsyncClient(timeout=10) as http:
            for name, port in ports.items():
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
                assert response.status_code == 200
                scrapes[name] = response.text
            docs = await http.get(f"http://127.0.0.1:{ports['signals']}/docs")
            assert docs.status_code == 200 and "https://" not in docs.text
            bundle = await http.get(
                f"http://127.0.0.1:{ports['signals']}/api-docs/swagger-ui/swagger-ui-bundle.js"
            )
            assert bundle.status_code == 200 and len(bundle.content) > 100_000
    exposed = set().union(*(exposed_names(text) for text in scrapes.values()))
    missing = {
        f"{board}: {metric}"
        for board, content in dashboards().items()
        for expr in expressions(content)
        for metric in metric_names(expr)
        if metric not in exposed
    }
    assert not missing, f"dashboard metrics no service exposes: {sorted(missing)}"
    # The domain metrics are on their own service's registry, with a value from the start.
    assert 'titan_service_info{service="pairs"} 1.0' in scrapes["pairs"]
    assert "titan_pairs_active 0.0" in scrapes["pairs"]
    assert "titan_regime_fit_queue 0.0" in scrapes["regime"]
    assert "# TYPE titan_signals_emitted_total counter" in scrapes["signals"]
    # A new book: its capital, no exposure, the kill-switch off, the counters declared.
    portfolio = scrapes["portfolio"]
    assert "titan_portfolio_equity 1e+06" in portfolio
    assert "titan_portfolio_gross_exposure 0.0" in portfolio
    assert "titan_portfolio_kill_switch 0.0" in portfolio
    assert "# TYPE titan_portfolio_orders_total counter" in portfolio
    assert "# TYPE titan_portfolio_rejections_total counter" in portfolio
