"""The msgspec fast path of tick decoding against the contract decoder, and the lazy records."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest

from services.market_data.domain import TickLimits, decode_ticks
from services.market_data.handlers import MarketData
from services.market_data.store import tick_copy_payload
from shared.events import DecodeError, decode
from shared.runtime.event_keys import key_problem
from shared.runtime.records import ConsumedRecord, FetchedRecords, record_values
from shared.topics import MARKET_TICKS

from .test_validation import CLOCK
from .ticks_factory import T0, tick_bytes

WIDE = TickLimits(max_price=1e300, max_future=timedelta(days=10**6))


def _with(raw: bytes, where: str, **fields: object) -> bytes:
    data = json.loads(raw)
    (data["payload"] if where == "payload" else data).update(fields)
    return json.dumps(data).encode()


def _verdicts(raw: bytes) -> tuple[object, object]:
    """(fast path's verdict, oracle's verdict) on one record: tick fields or 'rejected'."""
    accepted, _ = decode_ticks([raw], CLOCK, WIDE)
    try:
        oracle = decode(raw, expected=("Tick",))
    except (DecodeError, OverflowError):  # the contract lets OverflowError escape (year 1)
        return ("rejected" if not accepted else accepted[0]), "rejected"
    if key_problem(MARKET_TICKS.name, None, oracle) is not None:  # known keys (event_keys.py)
        return ("rejected" if not accepted else accepted[0]), "rejected"
    p = oracle.payload
    mine = accepted[0] if accepted else None
    got = (mine.event_id, mine.symbol, mine.ts, mine.price, mine.size) if mine else "rejected"
    return got, (oracle.event_id, p.symbol, p.ts, p.price, p.size)


@pytest.mark.parametrize(
    "ts",
    [
        "2024-01-02T14:30:00.1234567+00:00",  # 7 digits: pydantic truncates, msgspec rounds
        "2024-01-02T14:30:00.9999999Z",
        "2024-01-02T14:30:00",  # naive: the contract reads it as UTC
        "2024-01-02T14:30:00+05:30",
        "2024-01-02t14:30:00z",
        "2024-01-02 14:30:00Z",
        "2024-01-02T24:00:00Z",
        "2024-02-30T10:00:00Z",
        "2024-01-02T14:30Z",
        "0001-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2024-01-02T14:30:00.5-00:00",
        "٢٠٢٤-01-02T14:30:00Z",  # non-ASCII digits
    ],
)
def test_tick_times_get_the_contract_decoders_verdict(ts: str) -> None:
    raw = _with(tick_bytes(), "payload", ts=ts)
    fast, oracle = _verdicts(raw)
    assert fast == oracle


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("occurred_at", "0001-01-01T00:00:00+01:00"),
        ("produced_at", "9999-12-31T23:59:59-01:00"),
        ("produced_at", "2024-01-02"),
        ("produced_at", "2024-01-02T14:30:00.1234567Z"),
        ("occurred_at", 1704205800),
        ("event_id", "83AA249F028A5F4D97432202FDCB67F6"),
        ("event_id", "{83aa249f-028a-5f4d-9743-2202fdcb67f6}"),
        ("schema_version", 10**30),
        ("schema_version", 1.0),
        ("key", ""),
    ],
)
def test_envelope_fields_get_the_contract_decoders_verdict(field: str, value: object) -> None:
    raw = _with(tick_bytes(), "envelope", **{field: value})
    fast, oracle = _verdicts(raw)
    assert fast == oracle


@pytest.mark.parametrize(
    "literal", [b"1" + b"0" * 400, b"1e400", b"true", b'"1.5"', b"1E2", b"-0.0", b"4.9e-324"]
)
def test_price_literals_get_the_contract_decoders_verdict(literal: bytes) -> None:
    raw = tick_bytes().replace(b'"price":187.25', b'"price":' + literal)
    assert raw != tick_bytes()
    fast, oracle = _verdicts(raw)
    assert fast == oracle


def test_symbol_with_a_trailing_newline_goes_to_the_oracle_and_keeps_its_verdict() -> None:
    raw = _with(_with(tick_bytes(), "payload", symbol="AAPL\n"), "envelope", key="AAPL\n")
    fast, oracle = _verdicts(raw)
    assert fast == oracle


def _message(offset: int, value: bytes | None) -> SimpleNamespace:
    return SimpleNamespace(
        topic="p.market.ticks.v1",
        partition=2,
        offset=offset,
        key=b"AAPL",
        value=value,
        timestamp=1234,
        headers=[("h", b"v")],
    )


def test_fetched_records_build_the_same_records_as_the_eager_conversion() -> None:
    messages = [_message(10 + i, tick_bytes(trade_id=str(i))) for i in range(3)]
    lazy = FetchedRecords(messages)
    eager = [
        ConsumedRecord("p.market.ticks.v1", 2, 10 + i, b"AAPL", m.value, 1234, (("h", b"v"),))
        for i, m in enumerate(messages)
    ]
    assert list(lazy) == eager
    assert [lazy[i] for i in range(3)] == eager
    assert lazy[1:] == eager[1:]
    assert len(lazy) == 3
    assert record_values(lazy) == record_values(eager) == [m.value for m in messages]


def test_market_data_decode_dead_letters_tombstones_and_rejections_with_their_records() -> None:
    values = [
        tick_bytes(),
        None,
        b"not json",
        tick_bytes(trade_id="t2"),
        tick_bytes(ts=CLOCK.now() + timedelta(hours=1)),
        None,
    ]
    records = FetchedRecords([_message(i, v) for i, v in enumerate(values)])
    svc = MarketData.__new__(MarketData)
    svc.clock, svc.limits, svc.worker = CLOCK, TickLimits(), None
    batches, dead = svc.decode(records)
    (batch,) = batches
    assert [t.trade_id for t in batch.accepted] == ["t1", "t2"]
    assert batch.unique == batch.accepted
    assert batch.copy_payload == tick_copy_payload(batch.accepted)
    assert [(r.offset, why.split(":")[0]) for r, why in dead] == [
        (1, "empty record value (tombstone) is not a tick"),
        (5, "empty record value (tombstone) is not a tick"),
        (2, "not JSON"),
        (4, f"ts {(T0 + timedelta(hours=2)).isoformat()[:13]}"),
    ]
    assert all(isinstance(r, ConsumedRecord) and r.partition == 2 for r, _ in dead)


def test_market_data_decode_gives_one_tick_batch_deduplicated_with_its_copy_payload() -> None:
    values = [tick_bytes(), tick_bytes(trade_id="t2"), tick_bytes()]  # a producer retry
    records = FetchedRecords([_message(i, v) for i, v in enumerate(values)])
    svc = MarketData.__new__(MarketData)
    svc.clock, svc.limits, svc.worker = CLOCK, TickLimits(), None
    (batch,), dead = svc.decode(records)
    assert dead == []
    assert [t.trade_id for t in batch.accepted] == ["t1", "t2", "t1"]
    assert [t.trade_id for t in batch.unique] == ["t1", "t2"]
    assert batch.copy_payload == tick_copy_payload(batch.unique)
    nothing_valid = FetchedRecords([_message(0, b"not json")])
    assert svc.decode(nothing_valid)[0] == []


def test_a_tick_whose_envelope_key_is_not_its_symbol_is_dead_lettered_with_the_reason() -> None:
    raw = _with(tick_bytes(), "envelope", key="MSFT")
    accepted, rejected = decode_ticks([tick_bytes(trade_id="t0"), raw], CLOCK, WIDE)
    assert [t.trade_id for t in accepted] == ["t0"]
    assert rejected == [
        (1, "event key 'MSFT' is not its symbol 'AAPL' (market.ticks.v1 is keyed by symbol)")
    ]


def test_market_data_decode_dead_letters_records_keyed_other_than_their_symbol() -> None:
    def keyed(offset: int, key: bytes | None, value: bytes | None) -> SimpleNamespace:
        message = _message(offset, value)
        message.key = key
        return message

    records = FetchedRecords(
        [
            keyed(0, b"AAPL", tick_bytes(trade_id="t0")),
            keyed(1, b"MSFT", tick_bytes(trade_id="t1")),  # in MSFT's partition, not AAPL's
            keyed(2, b"AAPL", b"not json"),
            keyed(3, None, tick_bytes(trade_id="t3")),  # unkeyed: the producer chose
            keyed(4, b"AAPL", None),
            keyed(5, b"aapl", tick_bytes(trade_id="t5")),
            keyed(6, b"AAPL", tick_bytes(trade_id="t6")),
        ]
    )
    svc = MarketData.__new__(MarketData)
    svc.clock, svc.limits, svc.worker = CLOCK, TickLimits(), None
    (batch,), dead = svc.decode(records)
    assert [t.trade_id for t in batch.accepted] == ["t0", "t3", "t6"]
    assert batch.copy_payload == tick_copy_payload(batch.unique)
    reasons = {r.offset: why for r, why in dead}
    assert reasons[1] == "record key 'MSFT' is not the event's key 'AAPL'"
    assert reasons[5] == "record key 'aapl' is not the event's key 'AAPL'"
    assert sorted(reasons) == [1, 2, 4, 5]
