"""Who consumes what when a service runs as several replicas of one consumer group.

Kafka lets the group's leader compute the assignment; TITAN's assignor replaces aiokafka's
round robin, which gave partition p of `pairs.lifecycle.v1` and of `pairs.spreads.v1` to
different replicas. Two ways to share, declared per service (`Partitioning`):

- "co_partitioned": partition number p of EVERY input topic goes to one replica. Inputs keyed
  alike (same key, same partition count, the default partitioner) then meet in one process,
  and state owned per partition never needs another replica's events (market_data: ticks and
  the bars they close; signals: a pair's lifecycle, spreads, regime and parameters).
- "exclusive": every partition goes to one replica, the others stand by. For services whose
  state is a cross-section of every partition (pairs' universe): a second replica takes over
  when the first leaves, it is not faster.

A co-partitioned service may also name exclusive topics, which go whole to the first member
(regime's bars: the market series is a cross-section, while pair scopes follow the spreads).

Members are ordered by start time, then replica id, so a replica joining later never takes
the partitions of one that runs (the exclusive owner stays put). Each member's assignment
carries the ids of every live replica: a replica claims the unsent outbox rows only of
replicas that are gone (outbox.py).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from aiokafka.cluster import ClusterMetadata
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.protocol import (
    ConsumerProtocolMemberAssignment,
    ConsumerProtocolMemberMetadata,
)

log = logging.getLogger(__name__)

Partitioning = Literal["co_partitioned", "exclusive"]
ASSIGNOR_NAME = "titan-copartitioned"


def new_replica_id() -> str:
    """One per process incarnation: a restarted replica is a new one (its old rows are
    orphans to claim, not its own to resume)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True, order=True)
class Member:
    started_at: float
    replica: str
    member_id: str = field(compare=False)


def order_members(members: Mapping[str, ConsumerProtocolMemberMetadata]) -> list[Member]:
    out = []
    for member_id, meta in members.items():
        try:
            info = json.loads(bytes(meta.user_data or b"{}"))
            out.append(Member(float(info["started_at"]), str(info["replica"]), member_id))
        except (ValueError, KeyError, TypeError):
            # A member of another version: ordered last, known by its member id.
            out.append(Member(float("inf"), member_id, member_id))
    return sorted(out)


def assign_partitions(
    mode: Partitioning,
    ordered: list[str],
    partitions: Mapping[str, Iterable[int]],
    exclusive: frozenset[str] = frozenset(),
) -> dict[str, dict[str, list[int]]]:
    """member -> topic -> partitions. Pure: the leader's decision, tested without a broker.
    Topics in `exclusive` go whole to the first member whatever the mode."""
    out: dict[str, dict[str, list[int]]] = {m: collections.defaultdict(list) for m in ordered}
    if not ordered:
        return out
    shared = {t: ps for t, ps in partitions.items() if t not in exclusive}
    numbers = sorted({p for ps in shared.values() for p in ps})
    owner = {p: ordered[0] if mode == "exclusive" else ordered[i % len(ordered)]
             for i, p in enumerate(numbers)}  # fmt: skip
    for topic in sorted(partitions):
        for p in sorted(partitions[topic]):
            out[ordered[0] if topic in exclusive else owner[p]][topic].append(p)
    return out


class TitanAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    """aiokafka calls assignors through the class: `for_replica` makes one class per
    consumer, carrying the replica's identity and what the last assignment said."""

    name = ASSIGNOR_NAME
    version = 0
    mode: ClassVar[Partitioning] = "co_partitioned"
    replica: ClassVar[str] = ""
    started_at: ClassVar[float] = 0.0
    exclusive: ClassVar[frozenset[str]] = frozenset()
    live: ClassVar[list[str] | None] = None  # replicas of the last assignment

    @classmethod
    def for_replica(
        cls, replica: str, mode: Partitioning, exclusive: frozenset[str] = frozenset()
    ) -> type[TitanAssignor]:
        attrs = {
            "replica": replica,
            "mode": mode,
            "exclusive": exclusive,
            "started_at": time.time(),
            "live": None,
        }
        return type("TitanAssignorOf" + replica.replace("-", "_"), (cls,), attrs)

    @classmethod
    def metadata(cls, topics: Iterable[str]) -> ConsumerProtocolMemberMetadata:
        info = {"replica": cls.replica, "started_at": cls.started_at}
        return ConsumerProtocolMemberMetadata(cls.version, list(topics), json.dumps(info).encode())

    @classmethod
    def assign(
        cls, cluster: ClusterMetadata, members: Mapping[str, ConsumerProtocolMemberMetadata]
    ) -> dict[str, ConsumerProtocolMemberAssignment]:
        ordered = order_members(members)
        topics = sorted({t for meta in members.values() for t in meta.subscription})
        partitions: dict[str, list[int]] = {}
        for topic in topics:
            found = cluster.partitions_for_topic(topic)
            if found is None:
                log.warning("no partition metadata for %s", topic)
                continue
            partitions[topic] = sorted(found)
        plan = assign_partitions(
            cls.mode, [m.member_id for m in ordered], partitions, cls.exclusive
        )
        live = json.dumps({"live": [m.replica for m in ordered]}).encode()
        log.info("assigned %s over %d replicas (%s)", ",".join(topics), len(ordered), cls.mode)
        return {
            m: ConsumerProtocolMemberAssignment(cls.version, sorted(plan[m].items()), live)
            for m in members
        }

    @classmethod
    def on_assignment(cls, assignment: ConsumerProtocolMemberAssignment) -> None:
        try:
            cls.live = [str(r) for r in json.loads(bytes(assignment.user_data or b"{}"))["live"]]
        except (ValueError, KeyError, TypeError):
            cls.live = None  # a leader of another version: nobody is known to be gone
