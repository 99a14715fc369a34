"""Digests and the delivery audit of `titan demo` (pure)."""

from __future__ import annotations

import pytest

from titan.digests import DigestError, Published, delivery_audit, topic_digest


def rec(partition: int, key: str, event_id: str) -> Published:
    return Published(partition, key, event_id, {"id": event_id})


def test_a_copy_right_after_its_original_is_harmless() -> None:
    records = [rec(0, "KO", "a"), rec(0, "KO", "a"), rec(0, "KO", "b")]
    assert delivery_audit(records) == {"copies": 1, "copies_after_newer": 0}


def test_a_copy_after_a_newer_event_of_its_key_is_counted() -> None:
    records = [rec(0, "KO", "a"), rec(0, "KO", "b"), rec(0, "KO", "a")]
    assert delivery_audit(records) == {"copies": 1, "copies_after_newer": 1}


def test_keys_and_partitions_are_audited_apart() -> None:
    # The same event in two partitions is a broadcast (the market regime), not a copy.
    records = [rec(0, "market", "m"), rec(1, "market", "m"), rec(0, "PEP", "p")]
    assert delivery_audit(records) == {"copies": 0, "copies_after_newer": 0}


def test_digest_counts_copies_once_and_refuses_two_payloads_for_one_id() -> None:
    once = topic_digest([("a", {"x": 1}), ("b", {"x": 2})])
    assert topic_digest([("b", {"x": 2}), ("a", {"x": 1}), ("a", {"x": 1})]) == once
    with pytest.raises(DigestError):
        topic_digest([("a", {"x": 1}), ("a", {"x": 2})])


def test_demo_replicas_must_be_a_whole_number_from_1_to_8() -> None:
    import argparse

    from titan.commands.demo import _replica_count

    assert _replica_count("3") == 3
    for bad, why in (("0", "1 to 8"), ("9", "1 to 8"), ("two", "whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            _replica_count(bad)
