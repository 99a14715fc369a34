"""Partition counts from TITAN_TOPIC_PARTITIONS and TITAN_TOPIC_PARTITIONS_OVERRIDES."""

from __future__ import annotations

import pytest

from shared.topic_partitions import (
    OVERRIDES_VAR,
    PARTITIONS_VAR,
    partition_config_error,
    partition_counts,
    resolved_topics,
)
from shared.topics import CO_PARTITIONED, CONTRACT_TOPICS, all_topics
from shared.topics_strimzi import render

CONTRACT = {t.name for t in CONTRACT_TOPICS}
DLQS = {t.name for t in all_topics()} - CONTRACT


def test_defaults_are_the_registry() -> None:
    assert partition_counts({}) == {t.name: t.partitions for t in all_topics()}
    assert {partition_counts({})[n] for n in DLQS} == {1}


def test_one_count_sets_every_contract_topic_and_leaves_dead_letters_at_one() -> None:
    counts = partition_counts({PARTITIONS_VAR: "8"})
    assert {counts[n] for n in CONTRACT} == {8}
    assert {counts[n] for n in DLQS} == {1}


def test_overrides_by_name_over_the_global_count() -> None:
    env = {
        PARTITIONS_VAR: "6",
        OVERRIDES_VAR: " market.ticks.v1=12, market.bars.v1 = 12,,signals.v1.dlq=2 ",
    }
    counts = partition_counts(env)
    assert counts["market.ticks.v1"] == counts["market.bars.v1"] == 12
    assert counts["signals.v1.dlq"] == 2
    assert counts["backtest.requests.v1"] == 6
    assert counts["market.ticks.v1.dlq"] == 1


def test_resolved_topics_carry_the_counts_and_keep_everything_else() -> None:
    specs = resolved_topics({OVERRIDES_VAR: "backtest.requests.v1=5"})
    by_name = {s.name: s for s in specs}
    assert [s.name for s in specs] == [s.name for s in all_topics()]
    assert by_name["backtest.requests.v1"].partitions == 5
    assert by_name["backtest.requests.v1"].config() == next(
        s.config() for s in all_topics() if s.name == "backtest.requests.v1"
    )


def test_the_strimzi_manifests_follow_the_resolution() -> None:
    text = render(topics=resolved_topics({PARTITIONS_VAR: "7"}))
    assert text.count("partitions: 7") == len(CONTRACT)
    assert text.count("partitions: 1\n") == len(DLQS)
    # A new topic set beside the old one: the names the services use with that prefix.
    renamed = render(prefix="v2_b.")
    assert "topicName: v2_b.market.ticks.v1\n" in renamed
    assert "  name: v2-b-market-ticks-v1\n" in renamed


def test_co_partitioned_groups_name_existing_contract_topics() -> None:
    grouped = [name for group in CO_PARTITIONED for name in group]
    assert set(grouped) <= CONTRACT and len(grouped) == len(set(grouped))
    assert ("market.ticks.v1", "market.bars.v1") in CO_PARTITIONED


@pytest.mark.parametrize("raw", ["abc", "0", "-3", "1.5", "+3", "٣", "3 4"])
def test_a_bad_global_count_names_the_variable(raw: str) -> None:
    with pytest.raises(ValueError, match=rf"^{PARTITIONS_VAR}=.*expected a positive integer"):
        partition_counts({PARTITIONS_VAR: raw})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("market.ticks.v1", r"'market.ticks.v1' is not TOPIC=COUNT"),
        ("nope.v1=3", r"unknown topic 'nope.v1'"),
        ("demo1.market.ticks.v1=3", r"unknown topic 'demo1.market.ticks.v1'"),
        ("backtest.requests.v1=0", r"backtest.requests.v1='0': expected a positive integer"),
        ("backtest.requests.v1=x", r"backtest.requests.v1='x': expected a positive integer"),
        ("backtest.requests.v1=2,backtest.requests.v1=3", r"backtest.requests.v1 is given twice"),
    ],
)
def test_a_bad_override_names_the_variable_and_the_topic(raw: str, expected: str) -> None:
    with pytest.raises(ValueError, match=rf"^{OVERRIDES_VAR}: .*{expected}"):
        partition_counts({OVERRIDES_VAR: raw})


def test_unequal_co_partitioned_counts_are_refused_with_every_topic_named() -> None:
    with pytest.raises(ValueError) as info:
        partition_counts({PARTITIONS_VAR: "4", OVERRIDES_VAR: "market.ticks.v1=12"})
    message = str(info.value)
    assert message.startswith(f"{OVERRIDES_VAR}: co-partitioned topics")
    assert "market.ticks.v1=12, market.bars.v1=4" in message
    assert "market.ticks.v1=12,market.bars.v1=12" in message  # the fix to apply


def test_the_pair_keyed_group_must_move_together() -> None:
    with pytest.raises(ValueError, match=r"signals\.v1=3"):
        partition_counts({OVERRIDES_VAR: "pairs.spreads.v1=6"})
    whole = ",".join(f"{name}=6" for name in CO_PARTITIONED[1])
    counts = partition_counts({OVERRIDES_VAR: whole})
    assert {counts[name] for name in CO_PARTITIONED[1]} == {6}


def test_config_error_for_the_clis() -> None:
    assert partition_config_error({}) is None
    error = partition_config_error({PARTITIONS_VAR: "many"})
    assert error is not None and PARTITIONS_VAR in error


@pytest.mark.parametrize(
    "argv",
    [["infra", "topics"], ["infra", "up", "--no-postgres"], ["demo", "--services", "market_data"]],
)
def test_the_clis_exit_2_on_a_bad_setting_before_touching_infra(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from titan.cli import main

    # Unreachable on purpose: the check must come before any connection or broker start.
    monkeypatch.setenv("TITAN_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv(OVERRIDES_VAR, "market.bars.v1=9")
    assert main(argv) == 2
    assert f"{OVERRIDES_VAR}: co-partitioned topics" in capsys.readouterr().err


def test_infra_topics_exits_2_on_a_bad_prefix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from titan.cli import main

    monkeypatch.setenv("TITAN_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("TITAN_TOPIC_PREFIX", "v2/")
    monkeypatch.delenv(PARTITIONS_VAR, raising=False)
    monkeypatch.delenv(OVERRIDES_VAR, raising=False)
    assert main(["infra", "topics"]) == 2
    assert "TITAN_TOPIC_PREFIX='v2/'" in capsys.readouterr().err
