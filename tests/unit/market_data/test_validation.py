from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.market_data.domain import TickLimits, decode_ticks, epoch_us, first_occurrences
from services.market_data.feeds.encoding import tick_event_bytes
from services.market_data.feeds.replay import FeedTick
from shared.clock import ManualClock
from shared.events import DecodeError, Tick, decode
from shared.runtime.event_keys import key_problem
from shared.topics import MARKET_TICKS

from .ticks_factory import T0, tick_bytes

CLOCK = ManualClock(T0 + timedelta(hours=1))


def _edit(raw: bytes, **payload: object) -> bytes:
    data = json.loads(raw)
    data["payload"].update(payload)
    return json.dumps(data).encode()


def test_accepted_tick_keeps_the_envelope_id_and_fields() -> None:
    raw = tick_bytes(ts=T0.astimezone(timezone(timedelta(hours=2))))
    accepted, rejected = decode_ticks([raw], CLOCK)
    assert rejected == []
    (tick,) = accepted
    envelope = decode(raw)
    assert tick.event_id == envelope.event_id
    assert (tick.symbol, tick.price, tick.size, tick.trade_id) == ("AAPL", 187.25, 100.0, "t1")
    assert tick.ts == T0 and tick.ts.utcoffset() == timedelta(0)
    assert tick.ts_us == epoch_us(T0) == int(T0.timestamp()) * 1_000_000


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps({"symbol": "AAPL", "ts": T0.isoformat(), "price": 1.0}).encode(), "bare Tick"),
        (_edit(tick_bytes(), price=-1.0), "price must be finite and positive"),
        (_edit(tick_bytes(), size=-5.0), "size must be finite and non-negative"),
        (_edit(tick_bytes(), symbol="bad sym"), "malformed symbol"),
        (_edit(tick_bytes(), ts="yesterday"), "invalid Tick"),
        (tick_bytes().replace(b'"price":187.25', b'"price":NaN'), "price must be finite"),
        (tick_bytes().replace(b'"event_type":"Tick"', b'"event_type":"Bar"'), "does not belong"),
        (_edit(tick_bytes(), source="x" * 900_000), "source"),
        (_edit(tick_bytes(), trade_id="t" * 129), "trade_id"),
    ],
)
def test_rejections_carry_the_contract_decoders_reason(raw: bytes, reason: str) -> None:
    accepted, rejected = decode_ticks([tick_bytes(), raw], CLOCK)
    assert len(accepted) == 1
    assert [r.position for r in rejected] == [1]
    assert reason in rejected[0].reason


def test_absurd_price_and_future_timestamp_are_rejected() -> None:
    limits = TickLimits(max_price=1000.0, max_future=timedelta(minutes=5))
    raws = [
        tick_bytes(price=1000.5),
        tick_bytes(ts=CLOCK.now() + timedelta(minutes=5, seconds=1)),
        tick_bytes(ts=CLOCK.now() + timedelta(minutes=5)),
    ]
    accepted, rejected = decode_ticks(raws, CLOCK, limits)
    assert [t.ts for t in accepted] == [CLOCK.now() + timedelta(minutes=5)]
    assert rejected[0].reason == "price 1000.5 above max_price 1000.0"
    assert rejected[1].reason.endswith("is 301.000 s in the future (max_future 300 s)")


def test_a_tick_dated_before_1900_is_rejected_though_its_envelope_time_is_not_read() -> None:
    # The fault matrix's poison (titan/poison.py) found it: the lean path read only ts, and a
    # tick of 1850 was accepted (it would have made a bar of 1850).
    old = FeedTick("AAPL", datetime(1850, 1, 1, tzinfo=UTC), 187.25, 100.0, "t1", "test")
    raw = tick_event_bytes(old, producer="test", produced_at=CLOCK.now())
    accepted, rejected = decode_ticks([raw, tick_bytes()], CLOCK)
    assert len(accepted) == 1 and [r.position for r in rejected] == [0]
    assert "ts 1850-01-01T00:00:00+00:00 outside [1900-01-01, 2100-01-01)" in rejected[0].reason
    late = FeedTick("AAPL", datetime(2150, 1, 1, tzinfo=UTC), 187.25, 100.0, "t2", "test")
    raw = tick_event_bytes(late, producer="test", produced_at=CLOCK.now())
    limits = TickLimits(max_future=timedelta(days=10**6))  # past the clock's horizon check
    accepted, rejected = decode_ticks([raw], CLOCK, limits)
    assert accepted == [] and "outside [1900-01-01, 2100-01-01)" in rejected[0].reason


def test_relative_jump_is_checked_against_the_last_accepted_price() -> None:
    last: dict[str, float] = {"AAPL": 100.0}
    prices = [105.0, 130.0, 115.0]  # +5 % ok, +23.8 % rejected, +9.5 % vs 105 ok
    raws = [tick_bytes(price=p, trade_id=str(p)) for p in prices]
    accepted, rejected = decode_ticks(raws, CLOCK, TickLimits(max_relative_jump=0.1), last)
    assert [t.price for t in accepted] == [105.0, 115.0]
    assert [r.position for r in rejected] == [1]
    assert "23.81% from the last accepted price 105.0 of AAPL" in rejected[0].reason
    assert last == {"AAPL": 115.0}


def test_limits_reject_bad_configuration() -> None:
    with pytest.raises(ValueError, match="max_price"):
        TickLimits(max_price=math.inf)
    with pytest.raises(ValueError, match="max_relative_jump"):
        TickLimits(max_relative_jump=0.0)


def test_template_encoding_decodes_to_the_same_envelope_as_pydantic() -> None:
    feed = FeedTick("KO", T0, 61.25, 300.0, "replay:x:1:KO", "replay:x")
    raw = tick_event_bytes(feed, producer="feed", produced_at=T0)
    tick = Tick(
        symbol="KO", ts=T0, price=61.25, size=300.0, trade_id="replay:x:1:KO", source="replay:x"
    )
    expected = tick_bytes(
        symbol="KO", price=61.25, size=300.0, trade_id="replay:x:1:KO", source="replay:x"
    )
    assert decode(raw) == decode(expected.replace(b'"producer":"test"', b'"producer":"feed"'))
    assert decode(raw).event_id == tick.tick_id()


def test_template_encoding_of_a_nan_price_reaches_the_rejections() -> None:
    raw = tick_event_bytes(
        FeedTick("KO", T0, math.nan, 1.0, "x", "s"), producer="f", produced_at=T0
    )
    with pytest.raises(DecodeError, match="price must be finite"):
        decode(raw)
    assert decode_ticks([raw], CLOCK)[1][0].position == 0


def test_first_occurrences_drops_repeats_within_a_batch() -> None:
    accepted, _ = decode_ticks([tick_bytes(), tick_bytes(trade_id="t2"), tick_bytes()], CLOCK)
    assert [t.trade_id for t in first_occurrences(accepted)] == ["t1", "t2"]


# The fast path must agree with the contract's decoder (the oracle) on arbitrary edits.
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["AAPL", "BRK.B", "aapl", "AAPL\n", "2024-01-02T14:30:00", "2024-01-02", "1.5", "1e400"]
    ),
)
_fields = st.sampled_from(
    [
        "symbol",
        "ts",
        "price",
        "size",
        "trade_id",
        "source",
        "event_id",
        "producer",
        "key",
        "schema_version",
        "occurred_at",
        "event_type",
    ]
)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(_fields, _values), max_size=3))
def test_fast_path_agrees_with_the_contract_decoder(edits: list[tuple[str, object]]) -> None:
    data = json.loads(tick_bytes())
    for name, value in edits:
        (data["payload"] if name in Tick.model_fields else data)[name] = value
    raw = json.dumps(data).encode()
    accepted, rejected = decode_ticks(
        [raw], CLOCK, TickLimits(max_price=1e300, max_future=timedelta(days=10**6))
    )
    try:
        envelope = decode(raw, expected=("Tick",))
    except DecodeError as exc:
        assert accepted == [] and rejected[0].reason.startswith(str(exc)[:20])
        return
    oracle: Tick = envelope.payload
    wrong_key = key_problem(MARKET_TICKS.name, None, envelope)
    if wrong_key is not None:  # known keys: the envelope's key must be the symbol
        assert accepted == [] and rejected[0].reason == wrong_key
        return
    assert rejected == []
    (tick,) = accepted
    assert tick.event_id == envelope.event_id
    assert (tick.symbol, tick.ts, tick.price, tick.size, tick.trade_id, tick.source) == (
        oracle.symbol,
        oracle.ts,
        oracle.price,
        oracle.size,
        oracle.trade_id,
        oracle.source,
    )
