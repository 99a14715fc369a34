"""Prometheus metrics of the runtime, one registry per service instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class RuntimeMetrics:
    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = {"service": service}
        self.records_in = Counter(
            "titan_records_in",
            "Records consumed, by topic",
            ["topic"],
            registry=self.registry,
        ).labels
        self.records_out = Counter(
            "titan_records_out",
            "Records published, by topic",
            ["topic"],
            registry=self.registry,
        ).labels
        self.dead_lettered = Counter(
            "titan_dead_lettered",
            "Records sent to a dead-letter topic, by source topic",
            ["topic"],
            registry=self.registry,
        ).labels
        self.batch_seconds = Histogram(
            "titan_batch_seconds",
            "Time to process one batch: decode, effects, outbox, offsets, commit",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "titan_publish_seconds",
            "Time to publish one batch's outbox rows and mark them sent",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "titan_consumer_lag",
            "High-water mark minus position, by topic and partition",
            ["topic", "partition"],
            registry=self.registry,
        ).labels
        self.outbox_backlog = Gauge(
            "titan_outbox_backlog",
            "Outbox rows written but not yet published",
            registry=self.registry,
        )
        self.retries = Counter(
            "titan_transient_retries",
            "Transient failures retried with backoff",
            ["what"],
            registry=self.registry,
        ).labels
        self.fenced = Counter(
            "titan_offset_fenced",
            "Batches rolled back because another consumer moved the stored offsets",
            registry=self.registry,
        )
        self.isolated_batches = Counter(
            "titan_isolated_batches",
            "Batch runs one record at a time after a handler raised (quarantine.py)",
            registry=self.registry,
        )
        self.stale_fetches = Counter(
            "titan_stale_fetches",
            "Fetched batches dropped because they started below the stored offsets",
            registry=self.registry,
        )
        self.input_watermark = Gauge(
            "titan_input_watermark_seconds",
            "Event time every aligned input has passed (epoch seconds; contract rule 7)",
            registry=self.registry,
        )
        self.topic_watermark = Gauge(
            "titan_input_topic_watermark_seconds",
            "Event time one aligned input topic has passed on every assigned partition "
            "(epoch seconds); time() minus it is the input's watermark lag",
            ["topic"],
            registry=self.registry,
        ).labels
        self.pending_events = Gauge(
            "titan_pending_events",
            "Events of aligned inputs waiting for the input watermark",
            registry=self.registry,
        )
        self.late_events = Counter(
            "titan_late_events",
            "Events that arrived behind their input's watermark (processed at once)",
            registry=self.registry,
        )
        self.wait_expired = Counter(
            "titan_watermark_wait_expired",
            "Bounded waits for a lagging input that expired (see forced_releases)",
            registry=self.registry,
        )
        self.info = Gauge(
            "titan_service_info", "Service identity", ["service"], registry=self.registry
        )
        self.info.labels(**labels).set(1)
