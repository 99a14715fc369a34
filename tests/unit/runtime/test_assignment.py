"""The co-partitioned assignor's decision (pure): who gets which partitions."""

from __future__ import annotations

import json

from aiokafka.coordinator.protocol import ConsumerProtocolMemberMetadata
from hypothesis import given
from hypothesis import strategies as st

from shared.runtime.assignment import TitanAssignor, assign_partitions, order_members


def meta(replica: str, started_at: float, topics: list[str]) -> ConsumerProtocolMemberMetadata:
    info = json.dumps({"replica": replica, "started_at": started_at}).encode()
    return ConsumerProtocolMemberMetadata(0, topics, info)


@given(
    members=st.integers(min_value=1, max_value=5),
    counts=st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=4),
)
def test_partition_p_of_every_topic_goes_to_one_member(members: int, counts: list[int]) -> None:
    ordered = [f"m{i}" for i in range(members)]
    partitions = {f"t{i}": range(n) for i, n in enumerate(counts)}
    plan = assign_partitions("co_partitioned", ordered, partitions)
    owner: dict[int, str] = {}
    seen = set()
    for member, topics in plan.items():
        for topic, ps in topics.items():
            for p in ps:
                assert owner.setdefault(p, member) == member  # one owner per number
                seen.add((topic, p))
    assert seen == {(t, p) for t, ps in partitions.items() for p in ps}  # all, once
    # Balanced: partition numbers spread round robin over the members.
    per_member = [sum(1 for m in owner.values() if m == o) for o in ordered]
    assert max(per_member) - min(per_member) <= 1 or len(owner) < members


def test_exclusive_gives_everything_to_the_first_member() -> None:
    plan = assign_partitions("exclusive", ["a", "b"], {"bars": range(3), "spreads": range(2)})
    assert dict(plan["a"]) == {"bars": [0, 1, 2], "spreads": [0, 1]}
    assert dict(plan["b"]) == {}


def test_members_are_ordered_by_start_time_so_a_newcomer_does_not_take_over() -> None:
    members = {
        "member-x": meta("late", 200.0, ["t"]),
        "member-y": meta("early", 100.0, ["t"]),
        "member-z": ConsumerProtocolMemberMetadata(0, ["t"], b"not json"),
    }
    assert [m.replica for m in order_members(members)] == ["early", "late", "member-z"]


def test_assignment_tells_every_member_who_is_live() -> None:
    class Cluster:
        def partitions_for_topic(self, topic: str) -> set[int]:
            return {0, 1, 2}

    assignor = TitanAssignor.for_replica("r1", "co_partitioned")
    members = {"m1": meta("r1", 1.0, ["a", "b"]), "m2": meta("r2", 2.0, ["a", "b"])}
    out = assignor.assign(Cluster(), members)  # type: ignore[arg-type]
    assert sorted(out["m1"].assignment) == [("a", [0, 2]), ("b", [0, 2])]
    assert sorted(out["m2"].assignment) == [("a", [1]), ("b", [1])]
    assignor.on_assignment(out["m2"])
    assert assignor.live == ["r1", "r2"]
    # Each consumer's assignor class is its own: another replica's state is separate.
    other = TitanAssignor.for_replica("r2", "co_partitioned")
    assert other.live is None and other.replica == "r2"


def test_exclusive_topics_go_whole_to_the_first_member_the_rest_co_partitioned() -> None:
    plan = assign_partitions(
        "co_partitioned", ["a", "b"], {"bars": range(3), "spreads": range(3)}, frozenset({"bars"})
    )
    assert dict(plan["a"]) == {"bars": [0, 1, 2], "spreads": [0, 2]}
    assert dict(plan["b"]) == {"spreads": [1]}
