"""Event envelope, decoding, schema files and golden fixtures of old versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.events import PAYLOAD_TYPES, DecodeError, Tick, decode, make_envelope
from shared.events.schemas import schema_files, stale_files

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "events"


def test_schema_files_are_current() -> None:
    assert stale_files() == [], "run: python -m shared.events.schemas --write"


def test_every_event_type_has_a_schema_and_a_golden_fixture() -> None:
    names = {n.split(".")[0] for n in schema_files()}
    assert names == set(PAYLOAD_TYPES)
    assert {p.name.split(".")[0] for p in GOLDEN.glob("*.json")} >= names


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.name)
def test_golden_fixtures_still_decode(path: Path) -> None:
    raw = path.read_bytes()
    envelope = decode(raw)
    data = json.loads(raw)
    assert envelope.event_type == data["event_type"]
    assert str(envelope.event_id) == data["event_id"]
    # Unknown fields are ignored, known ones survive a round trip unchanged.
    again = json.loads(envelope.to_bytes())
    for key in ("event_id", "event_type", "schema_version", "key", "producer"):
        assert again[key] == data[key]
    assert set(again["payload"]) <= set(data["payload"])


def _tick_bytes(**changes: object) -> bytes:
    tick = Tick(symbol="KO", ts=datetime(2020, 1, 2, tzinfo=UTC), price=40.0, size=1.0)
    env = make_envelope(
        tick,
        event_id=tick.tick_id(),
        occurred_at=tick.ts,
        key="KO",
        producer="test",
        produced_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    data = json.loads(env.to_bytes())
    data["payload"].update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"price": float("nan")}, "price must be finite"),
        ({"price": -1.0}, "price must be finite and positive"),
        ({"size": -5.0}, "size must be finite and non-negative"),
        ({"symbol": "bad symbol!"}, "malformed symbol"),
    ],
)
def test_invalid_ticks_raise_decode_error_with_reason(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(_tick_bytes(**changes))


def test_non_json_and_wrong_topic_are_decode_errors() -> None:
    with pytest.raises(DecodeError, match="not JSON"):
        decode(b"\xff\xfe not json")
    with pytest.raises(DecodeError, match="unknown event_type"):
        decode(b'{"event_type": "Nope"}')
    with pytest.raises(DecodeError, match="does not belong on this topic"):
        decode(_tick_bytes(), expected=("Bar",))


def test_event_ids_are_derived_from_their_cause() -> None:
    a = Tick(symbol="KO", ts=datetime(2020, 1, 2, tzinfo=UTC), price=40.0, trade_id="1")
    b = Tick(symbol="KO", ts=datetime(2020, 1, 2, tzinfo=UTC), price=40.0, trade_id="1")
    c = Tick(symbol="KO", ts=datetime(2020, 1, 2, tzinfo=UTC), price=40.0, trade_id="2")
    assert a.tick_id() == b.tick_id() != c.tick_id()


def test_strimzi_topic_manifests_match_the_registry() -> None:
    from shared.topics_strimzi import render

    manifest = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "topics.yaml"
    assert manifest.read_text() == render(), (
        "run: python -m shared.topics_strimzi > deploy/k8s/topics.yaml"
    )


def test_kubernetes_manifests_parse_and_run_known_services() -> None:
    import yaml

    from titan.commands.run import SERVICES
    from titan.pipeline import GATEWAYS

    manifest = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "titan.yaml"
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert len(deployments) == 6 + len(GATEWAYS)  # six services and the console
    for d in deployments:
        container = d["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][0] == "run" and container["args"][1] in SERVICES
        env = {e["name"]: e for e in container["env"]}
        if container["args"][1] in GATEWAYS:  # owns no data: no database role
            assert "TITAN_DATABASE_URL" not in env
        else:
            assert "secretKeyRef" in env["TITAN_DATABASE_URL"]["valueFrom"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_bar_that_is_not_finite_is_a_decode_error(value: str) -> None:
    raw = (GOLDEN / "Bar.v1.json").read_text()
    data = json.loads(raw)
    data["payload"]["close"] = "__X__"
    poisoned = json.dumps(data).replace('"__X__"', value).encode()
    with pytest.raises(DecodeError, match="close"):
        decode(poisoned, ("Bar",))
    decode(raw.encode(), ("Bar",))  # the golden bar itself is fine
