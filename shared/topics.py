"""The topic registry of the architecture contract: names, keys, cleanup and retention.

One place so that `titan infra up`, the test fixtures and every service agree on what
exists. Partition counts are modest defaults for one machine; scaling out is more
partitions (set at creation time, `shared/topic_partitions.py`) and more replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    events: tuple[str, ...]
    cleanup_policy: str = "delete"  # "delete", "compact" or "compact,delete"
    retention_ms: int | None = 7 * DAY_MS
    partitions: int = 3
    extra_config: dict[str, str] = field(default_factory=dict)
    # Writers of each partition, each with its own watermark (shared/runtime/watermarks.py);
    # "" is the single writer's.
    watermark_sources: tuple[str, ...] = ("",)

    @property
    def dlq(self) -> str:
        return dlq_topic(self.name)

    def config(self) -> dict[str, str]:
        cfg = {"cleanup.policy": self.cleanup_policy}
        if self.retention_ms is not None:
            cfg["retention.ms"] = str(self.retention_ms)
        cfg.update(self.extra_config)
        return cfg


def dlq_topic(source: str) -> str:
    return f"{source}.dlq"


MARKET_TICKS = TopicSpec("market.ticks.v1", "symbol", ("Tick",), retention_ms=7 * DAY_MS)
MARKET_BARS = TopicSpec("market.bars.v1", "symbol", ("Bar",), retention_ms=30 * DAY_MS)
PAIRS_TESTS = TopicSpec("pairs.tests.v1", "pair_id", ("PairTested",), retention_ms=30 * DAY_MS)
PAIRS_LIFECYCLE = TopicSpec(
    "pairs.lifecycle.v1",
    "pair_id",
    ("PairStateChanged",),
    cleanup_policy="compact",
    retention_ms=None,
)
PAIRS_SPREADS = TopicSpec(
    "pairs.spreads.v1", "pair_id", ("SpreadUpdated",), retention_ms=30 * DAY_MS
)
REGIME_SHIFTS = TopicSpec(
    "regime.shifts.v1",
    "scope",
    ("RegimeShifted",),
    cleanup_policy="compact,delete",
    retention_ms=365 * DAY_MS,
    # The market scope's owner (shifts broadcast to every partition) and the owner of the
    # partition's pair scopes write each partition.
    watermark_sources=("market", "pairs"),
)
PARAMS = TopicSpec(
    "params.v1",
    "pair_id|regime",
    ("ParametersPublished",),
    cleanup_policy="compact",
    retention_ms=None,
)
SIGNALS = TopicSpec("signals.v1", "pair_id", ("SignalEmitted",), retention_ms=30 * DAY_MS)
BACKTEST_REQUESTS = TopicSpec(
    "backtest.requests.v1", "request_id", ("BacktestRequested",), retention_ms=7 * DAY_MS
)
BACKTEST_RESULTS = TopicSpec(
    "backtest.results.v1",
    "request_id",
    ("BacktestCompleted", "BacktestFailed"),
    retention_ms=30 * DAY_MS,
)
PORTFOLIO_ORDERS = TopicSpec(
    "portfolio.orders.v1",
    "symbol",
    ("OrderPlanned",),
    retention_ms=30 * DAY_MS,
)
PORTFOLIO_POSITIONS = TopicSpec(
    "portfolio.positions.v1",
    "portfolio",
    ("PositionsMarked",),
    cleanup_policy="compact,delete",
    retention_ms=365 * DAY_MS,
)

CONTRACT_TOPICS: tuple[TopicSpec, ...] = (
    MARKET_TICKS,
    MARKET_BARS,
    PAIRS_TESTS,
    PAIRS_LIFECYCLE,
    PAIRS_SPREADS,
    REGIME_SHIFTS,
    PARAMS,
    SIGNALS,
    BACKTEST_REQUESTS,
    BACKTEST_RESULTS,
    PORTFOLIO_ORDERS,
    PORTFOLIO_POSITIONS,
)

# Topics whose partition counts must be equal because partition p of one is read together
# with partition p of the others: market_data turns the feed watermark of tick partition p
# into the watermark of bar partition p; signals and backtest join the pair-keyed topics by
# partition. Partition counts are resolved and checked against these groups
# (shared/topic_partitions.py), and services can check the live topics against them.
CO_PARTITIONED: tuple[tuple[str, ...], ...] = (
    (MARKET_TICKS.name, MARKET_BARS.name),
    (PAIRS_LIFECYCLE.name, PAIRS_SPREADS.name, REGIME_SHIFTS.name, PARAMS.name, SIGNALS.name),
)


def watermark_sources(name: str) -> tuple[str, ...]:
    """The sources of a contract topic's watermarks (one, "", for topics not registered)."""
    for spec in all_topics():
        if spec.name == name:
            return spec.watermark_sources
    return ("",)


def co_partitioned_with(name: str) -> tuple[str, ...]:
    """The co-partition group a contract topic belongs to (just itself if none)."""
    for group in CO_PARTITIONED:
        if name in group:
            return group
    return (name,)


def all_topics() -> tuple[TopicSpec, ...]:
    """Contract topics plus one dead-letter topic for each (retention 30 days)."""
    dlqs = tuple(
        TopicSpec(t.dlq, t.key, ("DeadLetter",), retention_ms=30 * DAY_MS, partitions=1)
        for t in CONTRACT_TOPICS
    )
    return CONTRACT_TOPICS + dlqs


def topic(name: str) -> TopicSpec:
    for spec in all_topics():
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}")
