"""The Helm chart's topic list (deploy/helm/titan/files/topics.json) is the topic registry:
one source of truth for the Strimzi KafkaTopics the chart renders."""

from __future__ import annotations

import json
from pathlib import Path

from shared.topic_partitions import resolved_topics
from shared.topics_strimzi import chart_topics

CHART_TOPICS = Path(__file__).resolve().parents[3] / "deploy/helm/titan/files/topics.json"


def test_chart_topics_equal_the_registry() -> None:
    assert CHART_TOPICS.read_text() == chart_topics(), (
        "run: python -m shared.topics_strimzi --chart > deploy/helm/titan/files/topics.json"
    )


def test_chart_topics_carry_every_topic_with_its_partitions_and_config() -> None:
    rows = {row["name"]: row for row in json.loads(CHART_TOPICS.read_text())}
    specs = resolved_topics({})
    assert list(rows) == [s.name for s in specs]
    for spec in specs:
        assert rows[spec.name]["partitions"] == spec.partitions
        assert rows[spec.name]["config"] == spec.config()
