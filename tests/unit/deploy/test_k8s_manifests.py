"""deploy/k8s: every Deployment has its probes, a disruption budget and lag autoscaling that
matches the service's consumer group, inputs and partition counts."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.topic_partitions import resolved_topics
from titan.commands.run import SERVICES
from titan.pipeline import SERVICE_INPUTS

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
ACTIVE_STANDBY = {"pairs", "portfolio"}  # one member owns every partition, a second stands by


def _docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


TITAN = _docs("titan.yaml")
KEDA = _docs("keda.yaml")
DEPLOYMENTS = _by_kind(TITAN, "Deployment")


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


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


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_deployment_has_a_disruption_budget(name: str) -> None:
    labels = DEPLOYMENTS[name]["spec"]["selector"]["matchLabels"]
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


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_each_service_takes_its_api_token_from_a_secret(name: str) -> None:
    container = _container(DEPLOYMENTS[name])
    token = [e for e in container["env"] if e["name"] == "TITAN_API_TOKEN"]
    assert token == [
        {
            "name": "TITAN_API_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "titan-api", "key": "token"}},
        }
    ]
