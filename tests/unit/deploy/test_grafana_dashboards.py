"""deploy/grafana: valid dashboards (unique ids, grid inside 24 columns, a datasource
variable), and the PromQL metric-name extraction the live scrape test relies on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.grafana_dashboards import dashboards, exposed_names, expressions, metric_names

BOARDS = dashboards()


def test_there_are_runtime_and_strategy_dashboards_with_unique_uids() -> None:
    assert {"titan-runtime.json", "titan-strategy.json"} <= set(BOARDS)
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_unique_ids_a_grid_place_and_templated_datasource(name: str) -> None:
    board: dict[str, Any] = BOARDS[name]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}"
            assert panel["targets"], panel["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    exprs = list(expressions(board))
    assert exprs and all(metric_names(e) for e in exprs), "an expression without a metric"


def test_metric_names_skip_functions_labels_keywords_and_variables() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (job, le) (rate(titan_batch_seconds_bucket{job=~"$job",'
        'topic="a.b"}[$__rate_interval]))) - on (job) group_left () min by (job) '
        "(titan_input_watermark_seconds offset 5m) / time() > bool 0"
    )
    assert metric_names(expr) == {"titan_batch_seconds_bucket", "titan_input_watermark_seconds"}
    assert metric_names("label_values(titan_service_info, job)") == {"titan_service_info"}


def test_exposed_names_derive_suffixes_from_types_and_read_samples() -> None:
    text = (
        "# HELP titan_records_in_total Records\n# TYPE titan_records_in_total counter\n"
        "# TYPE titan_batch_seconds histogram\n"
        'titan_batch_seconds_bucket{le="0.1"} 3.0\n# TYPE titan_outbox_backlog gauge\n'
        "titan_outbox_backlog 0.0\n"
    )
    names = exposed_names(text)
    assert {"titan_records_in_total", "titan_batch_seconds_count", "titan_outbox_backlog"} <= names
