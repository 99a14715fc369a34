"""The web console in a real browser (Debian's Chromium driven by Playwright) after
`titan demo --keep-running` (tests/integration/running_titan.py: 5 symbols, 2012-2022).

The pages must render with data: rows in the tables, canvases with points in the charts
(each chart container says how many points it drew in data-points). Live signals: a signal
published to signals.v1 must appear on the open page without a reload. That one runs on a
second console whose topic prefix is a fresh one, so the shared demo's signals topic (which
portfolio consumes and other tests count) gets nothing extra; its pages still read the demo's
services. Screenshots of the pairs table, a pair page and the live signals page are kept
under the test's tmp dir and copied to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shared.events import SignalEmitted
from shared.events.envelope import derive_id, make_envelope
from shared.infra.kafka import ensure_topics
from shared.runtime.endpoints import lookup_endpoint, resolve_kafka_bootstrap
from shared.topic_partitions import resolved_topics
from shared.topics import SIGNALS
from tests.integration.running_titan import REPO, RunningTitan, titan_cli, user_env
from titan.processes import spawn_service

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "artifacts" / "screenshots"
SERVICES = ("market_data", "pairs", "regime", "signals", "backtest", "portfolio")
PAGE_TIMEOUT_MS = 30_000
T = TypeVar("T")


@pytest.fixture(scope="module")
def console_url(running_titan: RunningTitan) -> str:
    url = lookup_endpoint("console", running_titan.home)
    assert url is not None, "titan demo --keep-running started no console"
    return url


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("console-screenshots")
    yield folder
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy2(shot, ARTIFACTS / shot.name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (deploy/setup.sh installs Debian's chromium)")
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Playwright's sync API keeps an event loop in this thread: run the coroutine in another."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=60)


def open_page(page: Any, url: str) -> Any:
    response = page.goto(url)
    page.wait_for_selector("main[data-state=ready], main[data-state=error]")
    state = page.get_attribute("main", "data-state")
    assert state == "ready", page.inner_text("main")[:1000]
    return response


def chart_points(page: Any, chart_id: str) -> int:
    assert page.locator(f"#{chart_id} canvas").count() > 0, f"{chart_id} drew no canvas"
    return int(page.get_attribute(f"#{chart_id}", "data-points") or 0)


def test_status_lists_the_console_and_titan_console_prints_its_url(
    running_titan: RunningTitan, console_url: str
) -> None:
    status = json.loads(titan_cli(running_titan.env, "status", "--json").stdout)
    console = [s for s in status["services"] if s["service"] == "console"]
    assert console and console[0]["url"] == console_url and console[0]["health"] == "ready"
    done = titan_cli(running_titan.env, "console", "--no-browser")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == console_url
    bad = titan_cli(running_titan.env, "console", "--no-browser", "--timeout", "0")
    assert bad.returncode == 2 and "--timeout must be positive" in bad.stderr


def test_pairs_table_renders_a_row_per_tested_pair(
    page: Any, console_url: str, screenshots: Path
) -> None:
    open_page(page, console_url + "/")
    rows = page.locator("#pairs tbody tr")
    assert rows.count() >= 1
    states = set(page.locator("#pairs tbody tr td:nth-child(2)").all_inner_texts())
    assert states <= {"candidate", "active", "degraded", "retired"}
    assert "-" not in page.locator("#pairs tbody tr").first.inner_text().split("\t")[3]
    page.screenshot(path=str(screenshots / "pairs-table.png"), full_page=True)


def test_pair_page_draws_legs_spread_z_with_signals_and_regime(
    page: Any, console_url: str, screenshots: Path
) -> None:
    recent = httpx.get(console_url + "/api/signals/recent", timeout=30).json()
    assert recent["signals"], "the demo emitted no signal"
    pair_id = recent["signals"][0]["pair_id"]
    open_page(page, f"{console_url}/pairs/{pair_id}")
    assert chart_points(page, "chart-prices") > 1000  # both legs, 2012-2022
    for chart in ("chart-spread", "chart-z"):  # while the pair was tracked
        assert chart_points(page, chart) > 0, chart
    assert int(page.get_attribute("#chart-z", "data-markers") or 0) >= 1
    assert "entry ±" in page.inner_text("#thresholds")
    assert page.locator("#signals tbody tr").count() >= 1
    assert chart_points(page, "chart-regime") > 0  # the pair's regime, else the market's
    page.screenshot(path=str(screenshots / "pair-page.png"), full_page=True)


def test_an_unknown_pair_is_a_404_page_and_json(page: Any, console_url: str) -> None:
    response = page.goto(console_url + "/pairs/ZZA~ZZB")
    assert response.status == 404 and "unknown pair" in page.inner_text("main")
    api = httpx.get(console_url + "/api/pairs/ZZA~ZZB", timeout=30)
    assert api.status_code == 404 and "unknown pair" in api.json()["detail"]


def test_regime_portfolio_and_backtest_pages_render_with_data(page: Any, console_url: str) -> None:
    open_page(page, console_url + "/regime")
    assert page.locator("#regimes tbody tr[data-scope=market]").count() == 1
    assert chart_points(page, "chart-market") > 100
    open_page(page, console_url + "/portfolio")
    assert chart_points(page, "chart-equity") > 100
    assert "equity" in page.inner_text("#risk")
    open_page(page, console_url + "/backtests")
    jobs = page.locator("#jobs tbody tr")
    assert jobs.count() >= 1
    completed = page.locator("#jobs tbody tr[data-status=completed] a")
    assert completed.count() >= 1
    completed.first.click()
    page.wait_for_load_state()
    assert "/report" in page.url and page.locator("svg").count() >= 1


@pytest.fixture
def live_console(running_titan: RunningTitan, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A second console on a fresh topic prefix (its own TITAN_HOME and log), reading the
    demo's services by URL: (console URL, bootstrap, signals topic)."""
    bootstrap = resolve_kafka_bootstrap(running_titan.home)
    assert bootstrap is not None
    prefix = f"consolelive{secrets.token_hex(3)}."
    signals = next(s for s in resolved_topics() if s.name == SIGNALS.name)
    run_async(ensure_topics(bootstrap, [signals], names={SIGNALS.name: prefix + SIGNALS.name}))
    home = tmp_path / "home"
    env = user_env(home) | {"TITAN_KAFKA_BOOTSTRAP": bootstrap, "TITAN_TOPIC_PREFIX": prefix}
    for service in SERVICES:
        url = lookup_endpoint(service, running_titan.home)
        assert url is not None, service
        env[f"TITAN_{service.upper()}_URL"] = url
    proc = spawn_service("console", env, tmp_path / "console.log", cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while (url := lookup_endpoint("console", home)) is None:
            assert proc.poll() is None, (tmp_path / "console.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second console never registered"
            time.sleep(0.2)
        yield url, bootstrap, prefix + SIGNALS.name
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


async def _publish(bootstrap: str, topic: str, signal: SignalEmitted) -> None:
    from aiokafka import AIOKafkaProducer

    now = datetime.now(UTC)
    envelope = make_envelope(signal, event_id=derive_id("console-test", signal.signal_id),
                             occurred_at=signal.bar_time, key=signal.pair_id,
                             producer="test-console", produced_at=now)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, envelope.to_bytes(), key=signal.pair_id.encode())
    finally:
        await producer.stop()


def test_live_signals_appear_without_a_reload(
    live_console: tuple[str, str, str], page: Any, screenshots: Path
) -> None:
    url, bootstrap, topic = live_console
    open_page(page, url + "/signals")
    page.wait_for_selector("main[data-stream=ready]")
    stored = page.locator("#signals tbody tr").count()
    assert stored >= 1  # the demo's stored signals, from the signals service
    page.evaluate("window.__sameDocument = true")
    signal = SignalEmitted(
        signal_id=f"console-live-{secrets.token_hex(4)}", pair_id="KO~PEP",
        action="open_short_spread", reason="z above entry (published by the console test)",
        bar_time=datetime(2023, 1, 3, tzinfo=UTC), z_score=2.31, hedge_ratio=1.07, regime=0,
        params_version="console-test",
        legs=[{"symbol": "KO", "side": "sell", "weight": 0.5},
              {"symbol": "PEP", "side": "buy", "weight": 0.5}],
    )  # fmt: skip
    run_async(_publish(bootstrap, topic, signal))
    live = page.locator(f"#signals tbody tr.live[data-signal-id='{signal.signal_id}']")
    live.wait_for(timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    assert page.locator("#signals tbody tr").count() == stored + 1
    assert "open_short_spread" in live.inner_text()
    page.screenshot(path=str(screenshots / "live-signals.png"), full_page=True)
