"""deploy/helm/titan/values.yaml: a Deployment for every service `titan run` knows, on the
service's own schema and consumer group, with probes that tolerate slow starts and long
screens, and lag autoscaling bounded by the partition counts of the service's inputs; the web
console besides them, a gateway with no schema and no lag scaling.
(The render itself is validated in tests/integration/test_helm_chart.py.)"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.topic_partitions import resolved_topics
from shared.topics import PORTFOLIO_ORDERS
from titan.commands.run import SERVICES
from titan.pipeline import GATEWAYS, SERVICE_INPUTS

VALUES: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "deploy/helm/titan/values.yaml").read_text()
)
CHART_SERVICES: dict[str, Any] = VALUES["services"]
# The execution adapter reads the portfolio's orders; the pipeline's own map omits it.
INPUTS = {**SERVICE_INPUTS, "execution": (PORTFOLIO_ORDERS.name,)}
ACTIVE_STANDBY = {"pairs", "portfolio"}  # one member owns every partition, a second stands by


def test_every_service_is_in_the_chart() -> None:
    aliases = {"market_data"}  # the schema spelling `titan run` accepts too
    # Gateways (the web console) hold no state and have no schema: not a chart service,
    # a Deployment of their own (templates/console.yaml).
    assert set(CHART_SERVICES) == set(SERVICES) - aliases - set(GATEWAYS)


def test_the_console_is_deployed_by_default_as_a_gateway() -> None:
    assert set(GATEWAYS) == {"console"} and "console" in SERVICES
    console = VALUES["console"]
    assert console["enabled"] and console["replicas"] >= 1
    # No database role, no consumer group to scale on.
    assert not {"schema", "keda", "secretEnv"} & set(console)
    # Its /healthz never waits on a screen: a hung console restarts within a couple of minutes.
    live = console["probes"]["liveness"]
    assert live["periodSeconds"] * live["failureThreshold"] <= 120


@pytest.mark.parametrize("name", sorted(CHART_SERVICES))
def test_each_service_uses_its_own_schema(name: str) -> None:
    definition = importlib.import_module(SERVICES[name]).definition()
    assert CHART_SERVICES[name]["schema"] == definition.name


@pytest.mark.parametrize("name", sorted(CHART_SERVICES))
def test_lag_scaling_stays_within_the_partitions_of_the_inputs(name: str) -> None:
    keda = CHART_SERVICES[name]["keda"]
    inputs = INPUTS[CHART_SERVICES[name]["schema"]]
    partitions = {s.name: s.partitions for s in resolved_topics({})}
    assert keda["topic"] in inputs
    assert 1 <= keda["minReplicas"] <= keda["maxReplicas"]
    assert keda["maxReplicas"] <= min(partitions[t] for t in inputs)
    if name in ACTIVE_STANDBY:
        assert keda["maxReplicas"] == 2


def test_probes_tolerate_slow_starts_and_long_screens() -> None:
    probes = VALUES["probes"]
    assert probes["startup"]["periodSeconds"] * probes["startup"]["failureThreshold"] >= 300
    # /healthz shares the event loop with inline screens: minutes, not seconds, of silence.
    assert probes["liveness"]["periodSeconds"] * probes["liveness"]["failureThreshold"] >= 300


def test_secrets_are_referenced_never_inlined() -> None:
    text = (Path(__file__).resolve().parents[3] / "deploy/helm/titan/values.yaml").read_text()
    assert "password:" not in text.replace("passwordKey:", "")
    assert VALUES["database"]["secretName"] and VALUES["apiToken"]["secretName"]
