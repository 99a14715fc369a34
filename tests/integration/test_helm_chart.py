"""deploy/helm/titan renders with `helm template` (default values; everything on: SASL/TLS,
ServiceMonitor, KEDA, Strimzi topics; three replicas without KEDA), passes `helm lint`, and
every rendered object validates with titan-validate (deploy/helm/validate: strict decoding
into the k8s.io/api types and their required fields, JSON schemas for the CRDs), which
rejects broken manifests.
deploy/k8s is the chart rendered with deploy/helm/k8s-values.yaml, kept in step here.

Needs no broker or database; marked integration because it runs the Go-built tools that
deploy/setup.sh installs (skipped, saying so, only where they are not installed)."""

from __future__ import annotations

import importlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml

from shared.runtime.endpoints import lookup_endpoint
from shared.topic_partitions import resolved_topics
from titan.commands.run import SERVICES
from titan.pipeline import GATEWAYS

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "titan"
TOOLS = Path(os.environ.get("TITAN_TOOLS_BIN", Path.home() / ".cache" / "titan" / "bin"))
HELM, VALIDATE = TOOLS / "helm", TOOLS / "titan-validate"
VALUES = {
    "default": [],
    "all-on": [CHART / "ci" / "all-on-values.yaml"],
    "replicas": [CHART / "ci" / "replicas-values.yaml"],
}
# The schema spelling is an alias of market-data; the console is a gateway with its own template.
ALL = set(SERVICES) - {"market_data"} - set(GATEWAYS)
CONSOLE = "titan-console"

BUILD_WAIT_S = 1800.0


def _building() -> bool:
    """deploy/setup.sh's background build of the tools is still running."""
    try:
        os.kill(int((TOOLS / "build.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    """Wait for setup.sh's background build (these tests run last, see conftest.py); a build
    that failed fails here with its log, and only tools never built are a skip."""
    deadline = time.monotonic() + BUILD_WAIT_S
    while _building() and not (HELM.exists() and VALIDATE.exists()):
        assert time.monotonic() < deadline, f"tools still building after {BUILD_WAIT_S:.0f} s"
        time.sleep(2.0)
    if HELM.exists() and VALIDATE.exists():
        return
    log = TOOLS / "build.log"
    if log.exists():
        pytest.fail(f"building helm / titan-validate failed:\n{log.read_text()[-3000:]}")
    pytest.skip(f"helm and titan-validate are not installed in {TOOLS}: run deploy/setup.sh "
                "(it builds them with Go)")  # fmt: skip


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120)


def helm_template(values: list[Path]) -> str:
    flags = [x for v in values for x in ("-f", v)]
    done = _run(HELM, "template", "titan", CHART, "--namespace", "titan", *flags)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("helm")
    out = {}
    for name, values in VALUES.items():
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(helm_template(values))
    return out


def _objects(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize("values", sorted(VALUES))
def test_helm_lint_passes(values: str) -> None:
    flags = [x for v in VALUES[values] for x in ("-f", v)]
    done = _run(HELM, "lint", "--strict", CHART, *flags)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", sorted(VALUES))
def test_every_rendered_object_validates(rendered: dict[str, Path], values: str) -> None:
    done = _run(VALIDATE, rendered[values])
    count = len(_objects(rendered[values]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith(f"{count} objects, 0 invalid")


def test_default_render_runs_each_service_with_probes_budget_and_migrations(
    rendered: dict[str, Path],
) -> None:
    objects = _objects(rendered["default"])
    deployments = _kind(objects, "Deployment")
    console = deployments.pop(CONSOLE)
    # The execution adapter is off until its broker credentials exist.
    assert set(deployments) == {f"titan-{s}" for s in ALL - {"execution"}}
    assert set(_kind(objects, "PodDisruptionBudget")) == set(deployments) | {CONSOLE}
    assert set(_kind(objects, "Service")) == set(deployments) | {CONSOLE}
    _assert_console_reaches(console, deployments)
    for d in deployments.values():
        assert d["spec"]["replicas"] == 1
        (container,) = d["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        env = {e["name"] for e in container["env"]}
        assert {"TITAN_DATABASE_URL", "TITAN_API_TOKEN"} <= env
        assert "TITAN_KAFKA_SASL_PASSWORD" not in env and "volumes" not in d["spec"]["template"]
    job = _kind(objects, "Job")["titan-migrations"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    containers = job["spec"]["template"]["spec"]["containers"]
    assert {c["args"][1] for c in containers} == ALL - {"execution"}
    assert all(c["args"][2] == "--migrate-only" for c in containers)
    assert not {"ServiceMonitor", "ScaledObject", "KafkaTopic"} & {o["kind"] for o in objects}


def _assert_console_reaches(console: dict[str, Any], deployments: dict[str, Any]) -> None:
    """The console runs `titan run console` with no database, on the same Kafka settings,
    and finds each rendered service at its Service by the variable endpoints.py reads."""
    (container,) = console["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["run", "console"]
    assert container["envFrom"] == [{"configMapRef": {"name": "titan-config"}}]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    assert "TITAN_DATABASE_URL" not in env and "TITAN_API_TOKEN" in env
    urls = {n: e["value"] for n, e in env.items() if n.endswith("_URL")}
    assert len(urls) == len(deployments)
    with mock.patch.dict(os.environ, urls):
        for name, d in deployments.items():
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            service = importlib.import_module(SERVICES[args[1]]).definition().name
            assert lookup_endpoint(service) == f"http://{name}", service


def test_all_on_render_scales_on_lag_over_sasl_tls_and_creates_the_topics(
    rendered: dict[str, Path],
) -> None:
    objects = _objects(rendered["all-on"])
    deployments = _kind(objects, "Deployment")
    console = deployments.pop(CONSOLE)
    assert set(deployments) == {f"titan-{s}" for s in ALL}
    _assert_console_reaches(console, deployments)
    assert console["spec"]["replicas"] == 1  # no ScaledObject: it keeps its own count
    env = {e["name"]: e for e in console["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TITAN_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "titan-kafka"
    config = _kind(objects, "ConfigMap")["titan-config"]["data"]
    assert config["TITAN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["TITAN_KAFKA_SSL_CAFILE"] == "/etc/titan/kafka-ca/ca.crt"
    for d in deployments.values():
        assert "replicas" not in d["spec"]  # KEDA owns the count
        pod = d["spec"]["template"]["spec"]
        env = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert (
            env["TITAN_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "titan-kafka"
        )
        assert pod["volumes"][0]["secret"]["secretName"] == "titan-kafka-cluster-ca-cert"
    scaled = _kind(objects, "ScaledObject")
    assert set(scaled) == set(deployments)
    for so in scaled.values():
        (trigger,) = so["spec"]["triggers"]
        meta = trigger["metadata"]
        assert meta["topic"].startswith("prod.") and meta["consumerGroup"].startswith("titan-")
        assert meta["sasl"] == "scram_sha512" and meta["tls"] == "enable"
    assert set(_kind(objects, "ServiceMonitor")) == set(deployments) | {CONSOLE}
    topics = _kind(objects, "KafkaTopic")
    registry = resolved_topics({})
    assert sorted(t["spec"]["topicName"] for t in topics.values()) == sorted(
        "prod." + s.name for s in registry
    )
    for spec in registry:
        topic = next(t for t in topics.values() if t["spec"]["topicName"] == "prod." + spec.name)
        assert topic["spec"]["partitions"] == spec.partitions
        assert topic["spec"]["config"] == {**spec.config(), "min.insync.replicas": "2"}


def test_replicas_render_sets_three_replicas_without_keda(rendered: dict[str, Path]) -> None:
    deployments = _kind(_objects(rendered["replicas"]), "Deployment")
    assert deployments.pop(CONSOLE)["spec"]["replicas"] == 1
    assert len(deployments) == len(ALL)
    assert {d["spec"]["replicas"] for d in deployments.values()} == {3}


def test_deploy_k8s_is_the_chart_rendered(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "deploy/helm/render-k8s.sh")],
        env={**os.environ, "OUT": str(tmp_path), "HELM": str(HELM)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in ("titan.yaml", "keda.yaml"):
        fresh = (tmp_path / name).read_text()
        assert (ROOT / "deploy/k8s" / name).read_text() == fresh, "run deploy/helm/render-k8s.sh"
    done = _run(VALIDATE, tmp_path / "titan.yaml", tmp_path / "keda.yaml")
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("kafka.securityProtocol=SASL_TLS", "/kafka/securityProtocol"),
        ("services.pairs.replicass=2", "replicass"),
        ("services.risk.enabled=true", "/services"),
        ("console.replicass=2", "replicass"),
        ("keda.scaleDownStabilizationSeconds=-1", "/keda/scaleDownStabilizationSeconds"),
    ],
)
def test_bad_values_are_refused_naming_the_setting(setting: str, named: str) -> None:
    done = _run(HELM, "template", "titan", CHART, "--set", setting)
    assert done.returncode != 0
    assert named in done.stderr, done.stderr


BROKEN = {
    "unknown field": ("imagePullPolicy: IfNotPresent", "imagePullPolicyy: IfNotPresent"),
    "wrong type": ("containerPort: 8080", "containerPort: eighty"),
    "misspelt custom resource field": ("maxReplicaCount:", "maxReplicas:"),
    "custom resource wrong type": ("partitions: 3", "partitions: three"),
    "unknown kind": ("kind: PodDisruptionBudget", "kind: PodDisruptionBudgett"),
    "container without an image": ("          image: titan:0.1.0\n", ""),
    "selector not matching the pod": (
        "component: backtest\n  template:",
        "component: backtesting\n  template:",
    ),
    "job that restarts forever": ("restartPolicy: Never", "restartPolicy: Always"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_validator_rejects_a_broken_manifest(
    rendered: dict[str, Path], tmp_path: Path, case: str
) -> None:
    old, new = BROKEN[case]
    text = rendered["all-on"].read_text()
    assert old in text
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace(old, new, 1))
    done = _run(VALIDATE, broken)
    assert done.returncode == 1, done.stdout + done.stderr
    invalid = [line for line in done.stdout.splitlines() if line.startswith("INVALID")]
    assert len(invalid) == 1, done.stdout
