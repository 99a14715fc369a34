"""deploy/k8s: every Deployment has its probes, a disruption budget and lag autoscaling that
matches the service's consumer group, inputs and partition counts; the web console (a
gateway: no database, no consumer group) reaches every service at its Service."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.runtime.endpoints import lookup_endpoint
from shared.topic_partitions import resolved_topics
from titan.commands.run import SERVICES
from titan.pipeline import GATEWAYS, SERVICE_INPUTS

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
ACTIVE_STANDBY = {"pairs", "portfolio"}  # one member owns every partition, a second stands by


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


TITAN = _docs("titan.yaml")
KEDA = _docs("keda.yaml")
ALL_DEPLOYMENTS = _by_kind(TITAN, "Deployment")
# The services with a consumer group; the gateways (the console) only call their APIs.
DEPLOYMENTS = {
    name: d for name, d in ALL_DEPLOYMENTS.items() if _container(d)["args"][1] not in GATEWAYS
}
CONSOLE = ALL_DEPLOYMENTS["titan-console"]


def _service_name(deployment: dict[str, Any]) -> str:
    """The service's own name (`titan-<name>` is its consumer group), from its definition."""
    module = importlib.import_module(SERVICES[_container(deployment)["args"][1]])
    name: str = module.definition().name
    return name


def test_every_service_has_a_deployment() -> None:
    assert sorted(_service_name(d) for d in DEPLOYMENTS.values()) == sorted(SERVICE_INPUTS)


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_probes_tolerate_slow_starts_and_long_screens(name: str) -> None:
    container = _container(DEPLOYMENTS[name])
    startup, live = container["startupProbe"], container["livenessProbe"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert startup["httpGet"]["path"] == live["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    # /healthz shares the event loop with inline screens: minutes, not seconds, of silence.
    assert live["periodSeconds"] * live["failureThreshold"] >= 300
    # KEDA owns the replica count; a value here would reset it at every apply.
    assert "replicas" not in DEPLOYMENTS[name]["spec"]


@pytest.mark.parametrize("name", sorted(ALL_DEPLOYMENTS))
def test_each_deployment_has_a_disruption_budget(name: str) -> None:
    labels = ALL_DEPLOYMENTS[name]["spec"]["selector"]["matchLabels"]
    budgets = [
        d for d in _by_kind(TITAN, "PodDisruptionBudget").values()
        if d["spec"]["selector"]["matchLabels"] == labels
    ]  # fmt: skip
    assert len(budgets) == 1 and budgets[0]["spec"]["maxUnavailable"] == 1


def _secret_refs(container: dict[str, Any]) -> set[tuple[str, str]]:
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    return {(r["name"], r["key"]) for r in refs}


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_consumer_scales_on_its_own_group_and_input(name: str) -> None:
    service = _service_name(DEPLOYMENTS[name])
    scaled = [
        d for d in _by_kind(KEDA, "ScaledObject").values()
        if d["spec"]["scaleTargetRef"]["name"] == name
    ]  # fmt: skip
    assert len(scaled) == 1, f"{name}: one ScaledObject expected"
    spec = scaled[0]["spec"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert trigger["type"] == "kafka"
    assert meta["consumerGroup"] == f"titan-{service}"
    assert meta["topic"] in SERVICE_INPUTS[service]
    config = _by_kind(TITAN, "ConfigMap")["titan-config"]["data"]
    assert meta["bootstrapServers"] == config["TITAN_KAFKA_BOOTSTRAP"]

    # Members beyond the partition count of the inputs would sit idle.
    partitions = {s.name: s.partitions for s in resolved_topics({})}
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    assert spec["maxReplicaCount"] <= min(partitions[t] for t in SERVICE_INPUTS[service])
    if service in ACTIVE_STANDBY:
        assert spec["maxReplicaCount"] == 2

    # SASL/TLS through the same secrets the service itself reads.
    auth = _by_kind(KEDA, "TriggerAuthentication")[trigger["authenticationRef"]["name"]]
    refs = {p["parameter"]: (p["name"], p["key"]) for p in auth["spec"]["secretTargetRef"]}
    assert {refs["username"], refs["password"]} <= _secret_refs(_container(DEPLOYMENTS[name]))
    volumes = DEPLOYMENTS[name]["spec"]["template"]["spec"]["volumes"]
    assert refs["ca"][0] in {v["secret"]["secretName"] for v in volumes if "secret" in v}
    assert meta["sasl"] == "scram_sha512" and meta["tls"] == "enable"


@pytest.mark.parametrize("name", sorted(ALL_DEPLOYMENTS))
def test_each_service_takes_its_api_token_from_a_secret(name: str) -> None:
    container = _container(ALL_DEPLOYMENTS[name])
    token = [e for e in container["env"] if e["name"] == "TITAN_API_TOKEN"]
    assert token == [
        {
            "name": "TITAN_API_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "titan-api", "key": "token"}},
        }
    ]


def test_the_console_reaches_every_service_at_its_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    container = _container(CONSOLE)
    assert container["args"] == ["run", "console"]
    urls = {e["name"]: e["value"] for e in container["env"] if e["name"].endswith("_URL")}
    services = _by_kind(TITAN, "Service")
    for deployment in DEPLOYMENTS.values():
        service = _service_name(deployment)
        # The variable the console's client resolves the service by (endpoints.py).
        monkeypatch.setenv(f"TITAN_{service.upper()}_URL", urls[f"TITAN_{service.upper()}_URL"])
        url = lookup_endpoint(service)
        assert url is not None and url.startswith("http://")
        host = url.removeprefix("http://")
        assert host in services, f"{service}: no Service {host}"
        assert services[host]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert len(urls) == len(DEPLOYMENTS)


def test_the_console_is_stateless_and_not_lag_scaled() -> None:
    container = _container(CONSOLE)
    env = {e["name"] for e in container["env"]}
    assert "TITAN_DATABASE_URL" not in env
    # Signals over SASL/TLS like the services: the same secrets and CA.
    assert {"TITAN_KAFKA_SASL_USERNAME", "TITAN_KAFKA_SASL_PASSWORD"} <= env
    assert {v["secret"]["secretName"] for v in CONSOLE["spec"]["template"]["spec"]["volumes"]} == {
        "titan-kafka-cluster-ca-cert"
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # No ScaledObject owns its count, so the Deployment carries it even under KEDA.
    assert CONSOLE["spec"]["replicas"] >= 1
    targets = {d["spec"]["scaleTargetRef"]["name"] for d in _by_kind(KEDA, "ScaledObject").values()}
    assert "titan-console" not in targets
