"""examples/django against the running services: every page through Django's test client,
each compared with what the service itself answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.infra.ports import free_port
from tests.integration.examples_support import (
    examples_services,
    get_json,
    load_site,
    site_talking_to,
)

pytestmark = pytest.mark.integration
__all__ = ["examples_services"]  # the fixture

BACKTEST_WAIT_S = 300.0
PARAMS_WAIT_S = 180.0


@pytest.fixture(scope="module")
def desk(examples_services: Any) -> Iterator[Any]:
    """Django's test client on the example site, its Titan pointed at the running services."""
    load_site()
    from django.test import Client

    with site_talking_to(examples_services.client_options):
        yield Client()


def test_index_offers_the_three_forms(desk: Any) -> None:
    response = desk.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for action in ("/pairs/analysis/", "/backtests/submit/", "/walk-forwards/"):
        assert f'action="{action}"' in html
    assert 'name="wf-a"' in html and "csrfmiddlewaretoken" in html


def test_pairs_page_lists_every_pair_the_service_has(desk: Any, examples_services: Any) -> None:
    served = get_json(examples_services.url("pairs") + "/pairs")["pairs"]
    response = desk.get("/pairs/")
    assert response.status_code == 200
    shown = response.context["pairs"]
    ids = [row[shown.columns.index("pair_id")] for row in shown.rows]
    assert ids == [p["pair_id"] for p in served]
    assert ids, "the pipeline found no pair: nothing to show"
    for pair_id in ids:
        assert pair_id in response.content.decode()


def test_pairs_page_filters_by_state_and_refuses_an_unknown_one(desk: Any) -> None:
    active = desk.get("/pairs/", {"state": "active"})
    assert active.status_code == 200
    table = active.context["pairs"]
    assert {row[table.columns.index("state")] for row in table.rows} <= {"active"}
    bad = desk.get("/pairs/", {"state": "sleeping"})
    assert bad.status_code == 400
    assert "state must be one of" in bad.content.decode()


def test_pair_analysis_shows_the_services_test(desk: Any, examples_services: Any) -> None:
    a, b, start, end = examples_services.window
    served = get_json(
        examples_services.url("pairs") + "/pairs/test", a=a, b=b, start=start, end=end
    )
    response = desk.get("/pairs/analysis/", {"a": a, "b": b, "start": start, "end": end})
    assert response.status_code == 200, response.content.decode()[:500]
    report = response.context["report"]
    assert report.pvalue == served["pvalue"]
    assert report.hedge_ratio == served["hedge_ratio"]
    assert f"{served['pvalue']:.4f}" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"a": "KO", "b": "KO", "start": "2020-01-01", "end": "2021-01-01"}, "two different"),
        ({"a": "KO", "b": "PEP", "start": "2021-01-01", "end": "2020-01-01"}, "must be before"),
        ({"a": "KO", "b": "PEP", "start": "2020-01-01"}, "This field is required"),
        ({"a": "KO", "b": "PEP", "start": "01/02/2020", "end": "2021-01-01"}, "valid date"),
    ],
)
def test_pair_analysis_refuses_bad_input_before_asking(
    desk: Any, query: dict[str, str], message: str
) -> None:
    response = desk.get("/pairs/analysis/", query)
    assert response.status_code == 400
    assert message in response.content.decode()


def test_pair_analysis_of_an_unknown_symbol_shows_the_services_message(
    desk: Any, examples_services: Any
) -> None:
    a, _, start, end = examples_services.window
    response = desk.get("/pairs/analysis/", {"a": a, "b": "NOPE", "start": start, "end": end})
    assert response.status_code == 400
    assert "unknown symbol(s) NOPE" in response.content.decode()


def test_backtest_submitted_from_the_page_completes_with_metrics_and_report(
    desk: Any, examples_services: Any
) -> None:
    a, b, start, end = examples_services.window
    form = {"a": a, "b": b, "start": start, "end": end, "entry_z": "1.5,2", "exit_z": "0.5"}
    submitted = desk.post("/backtests/submit/", form)
    assert submitted.status_code == 302
    page = submitted.url
    request_id = page.rstrip("/").rsplit("/", 1)[-1]

    deadline = time.monotonic() + BACKTEST_WAIT_S
    while True:
        response = desk.get(page)
        assert response.status_code == 200
        job = response.context["job"]
        if job.done or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job.status == "completed", f"{job.status}: {job.reason}"

    served = get_json(examples_services.url("backtest") + f"/backtests/{request_id}")
    result = response.context["result"]
    assert result.metrics == served["metrics"]
    assert result.metrics, "a completed backtest has metrics"
    # entry_z 1.5,2 x exit_z 0.5 from the form, x the service's two default lookbacks
    assert result.n_combinations == served["n_combinations"] == 4

    report = desk.get(f"/backtests/{request_id}/report/")
    assert report.status_code == 200
    assert report.content.decode().lstrip().lower().startswith(("<!doctype", "<html"))

    listing = desk.get("/backtests/")
    assert listing.status_code == 200
    assert request_id in listing.content.decode()


def test_backtest_form_errors_and_unknown_jobs(desk: Any) -> None:
    bad = desk.post(
        "/backtests/submit/",
        {"a": "KO", "b": "PEP", "start": "2020-01-01", "end": "2021-01-01", "entry_z": "x"},
    )
    assert bad.status_code == 400
    assert "numbers separated by commas" in bad.content.decode()
    missing = desk.get("/backtests/no-such-job/")
    assert missing.status_code == 404
    assert "no backtest with request id" in missing.content.decode()
    assert desk.get("/backtests/no-such-job/report/").status_code == 404


def test_active_signals_page_shows_every_open_position(desk: Any, examples_services: Any) -> None:
    served = get_json(examples_services.url("signals") + "/signals/active")
    response = desk.get("/signals/")
    assert response.status_code == 200
    table = response.context["signals"]
    assert len(table) == served["count"]
    shown = {row[table.columns.index("pair_id")] for row in table.rows}
    assert shown == {p["pair_id"] for p in served["positions"]}


def _published_set_in_force(examples_services: Any) -> tuple[list[Any], dict[str, Any]]:
    """The sets in force and the published evidence, once a walk-forward's set is in force:
    the demo's walk-forwards of its activations may still be running when the suite starts."""
    deadline = time.monotonic() + PARAMS_WAIT_S
    while True:
        in_force = get_json(examples_services.url("signals") + "/signals/params")["params"]
        published = get_json(examples_services.url("backtest") + "/params/published")["params"]
        evidence = {p["version"]: p["evidence"] for p in published}
        if any(p["version"] in evidence for p in in_force) or time.monotonic() > deadline:
            return in_force, evidence
        time.sleep(1.0)


def test_live_parameters_page_shows_every_set_in_force(desk: Any, examples_services: Any) -> None:
    """Each set the signals service applies, per pair and regime, with the evidence the
    backtest service published it on."""
    in_force, evidence = _published_set_in_force(examples_services)
    response = desk.get("/params/")
    assert response.status_code == 200
    table = response.context["params"]
    col = table.columns.index
    shown = [(r[col("pair_id")], r[col("regime")], r[col("version")]) for r in table.rows]
    assert shown == [(p["pair_id"], p["regime"], p["version"]) for p in in_force]
    with_evidence = [row for row in table.rows if row[col("version")] in evidence]
    assert with_evidence, "no walk-forward's set in force: the demo's walk-forwards published none"
    assert all(row[col("evidence")] for row in with_evidence)


def _check_overview(response: Any, examples_services: Any) -> None:
    assert response.status_code == 200, response.content.decode()[:500]
    active = get_json(examples_services.url("pairs") + "/pairs", state="active")["pairs"]
    positions = get_json(examples_services.url("signals") + "/signals/active")["count"]
    pairs = response.context["pairs"]
    assert [r[pairs.columns.index("pair_id")] for r in pairs.rows] == [p["pair_id"] for p in active]
    assert len(response.context["signals"]) == positions
    assert len(response.context["regimes"]) >= 1, "the regime service has a market regime"


def test_async_overview_through_the_sync_test_client(desk: Any, examples_services: Any) -> None:
    from desk import views

    assert asyncio.iscoroutinefunction(views.overview)
    _check_overview(desk.get("/overview/"), examples_services)


async def test_async_overview_inside_a_running_event_loop(examples_services: Any) -> None:
    """Django's AsyncClient runs the view on this test's own loop: AsyncTitan works there."""
    load_site()
    from django.test import AsyncClient

    with site_talking_to(examples_services.client_options):
        response = await AsyncClient().get("/overview/")
    _check_overview(response, examples_services)


def test_a_service_that_is_down_is_a_503_with_the_clients_message(
    examples_services: Any,
) -> None:
    load_site()
    from django.test import Client

    nowhere = f"http://127.0.0.1:{free_port()}"
    urls = {**examples_services.client_options.get("urls", {}), "pairs": nowhere}
    options = {**examples_services.client_options, "urls": urls}
    with site_talking_to(options):
        response = Client().get("/pairs/")
    assert response.status_code == 503
    assert "unreachable" in response.content.decode()
