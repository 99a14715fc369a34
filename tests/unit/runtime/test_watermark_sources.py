"""A topic with several writers per partition: a watermark per source, the minimum decides."""

from __future__ import annotations

from shared.runtime.watermarks import (
    EventTimeJoin,
    mark_key,
    parse_watermark_source,
    watermark_record,
)

SHIFTS = "p.regime.shifts.v1"


def test_a_source_travels_with_its_watermark_and_has_its_own_compaction_key() -> None:
    market = watermark_record(SHIFTS, 2, 1_000, "titan-regime", "market")
    pairs = watermark_record(SHIFTS, 2, 900, "titan-regime", "pairs")
    assert parse_watermark_source(market.value) == (1_000, "market")
    assert parse_watermark_source(pairs.value) == (900, "pairs")
    assert market.key != pairs.key and market.partition == pairs.partition == 2
    plain = watermark_record(SHIFTS, 0, 5, "titan-demo")
    assert parse_watermark_source(plain.value) == (5, "")


def test_a_partition_waits_for_every_declared_source_and_takes_their_minimum() -> None:
    join = EventTimeJoin(frozenset({SHIFTS}), sources={SHIFTS: ("market", "pairs")})
    assigned = [(SHIFTS, 0), (SHIFTS, 1)]
    join.observe({(mark_key(SHIFTS, "market"), 0): 500, (mark_key(SHIFTS, "market"), 1): 500})
    # The market writer alone does not speak for the pair scopes' writer.
    assert join.input_watermark(assigned) is None
    join.observe({(mark_key(SHIFTS, "pairs"), 0): 300, (mark_key(SHIFTS, "pairs"), 1): 700})
    assert join.input_watermark(assigned) == 300
    assert join.input_watermark([(SHIFTS, 1)]) == 500
