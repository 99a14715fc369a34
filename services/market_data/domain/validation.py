"""Decode and validate a batch of market.ticks.v1 records, fast.

Two paths give the same verdict on every record:

- the fast path parses the whole envelope with msgspec (C) into lean structs whose field
  constraints mirror `Envelope[Tick]`; it is stricter than the contract model, never laxer
  (strict JSON types, RFC 3339 times, a tick time of at most 6 fractional digits with an
  explicit offset, a symbol pattern anchored with \\A...\\Z so it has no trailing-newline
  quirk), so anything it accepts the contract model accepts with the same values;
- whatever the fast path refuses goes through the contract's own `decode` (the oracle),
  which either accepts it after all or produces the precise reason for the dead-letter topic.

Then the limits pydantic cannot know are checked: an absurd price, a jump against the
symbol's last accepted price, and a timestamp in the future (which would otherwise push the
symbol's watermark ahead and close bars that are still trading).
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

from shared.clock import Clock
from shared.events import DecodeError, Tick, decode
from shared.events.envelope import EARLIEST_EVENT_TIME, LATEST_EVENT_TIME
from shared.events.market import MAX_TEXT_FIELD
from shared.runtime.event_keys import key_problem
from shared.topics import MARKET_TICKS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
TICK_TOPIC_EVENTS = ("Tick",)


@dataclass(frozen=True)
class TickLimits:
    """Plausibility limits beyond the Tick model's own checks.

    max_relative_jump is off (None) by default: a legitimate gap (split, halt, news) would be
    dead-lettered, and the check makes the verdict depend on the previous accepted price.
    """

    max_price: float = 1e7
    max_relative_jump: float | None = None
    max_future: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_price) and self.max_price > 0):
            raise ValueError(f"max_price must be finite and positive, got {self.max_price!r}")
        jump = self.max_relative_jump
        if jump is not None and not (math.isfinite(jump) and jump > 0):
            raise ValueError(f"max_relative_jump must be positive or None, got {jump!r}")
        if self.max_future < timedelta(0):
            raise ValueError(f"max_future must not be negative, got {self.max_future}")


class AcceptedTick(NamedTuple):
    """A validated trade: a plain tuple, cheap to build once per tick and to ship between
    processes (no datetime in it: the hot paths use ts_us)."""

    event_id: uuid.UUID
    symbol: str
    ts_us: int  # trade time, epoch microseconds (UTC)
    price: float
    size: float
    trade_id: str | None
    source: str

    @property
    def ts(self) -> datetime:
        """The trade time as a UTC datetime, built on demand."""
        return from_epoch_us(self.ts_us)


# A NamedTuple's generated __new__ is a Python function (~0.4 us a call); tuple.__new__ builds
# the same AcceptedTick from a plain tuple in less than half that, once per tick.
_new_tick = tuple.__new__


class Rejection(NamedTuple):
    position: int  # index of the record in the batch passed to decode_ticks
    reason: str


def epoch_us(ts: datetime) -> int:
    return (ts - EPOCH) // ONE_MICROSECOND


def from_epoch_us(ts_us: int) -> datetime:
    return EPOCH + timedelta(microseconds=ts_us)


# The lean mirror of Envelope[Tick]. Keep in step with shared/events/{envelope,market}.py;
# tests/unit/market_data/test_validation.py checks both paths agree on valid and broken input.
# [0-9], not \d: Python's \d also matches non-ASCII digits, which datetime would reject.
_SYMBOL = r"\A[A-Z0-9][A-Z0-9.\-_/]{0,19}\Z"
# The tick time is parsed by datetime.fromisoformat, so its grammar is pinned down here: more
# than 6 fractional digits (pydantic truncates, others round), a missing offset or hour 24
# all go to the oracle.
_TICK_TIME = (
    r"\A[0-9]{4}-(?:0[1-9]|1[0-2])-[0-3][0-9]T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])\Z"
)
INF = math.inf


# gc=False: the structs hold only strings, numbers and a UUID, so they can be in no cycle;
# untracked, a batch of them costs the cyclic garbage collector nothing.
# symbol and ts are checked against _SYMBOL and _TICK_TIME in _fast, not by msgspec: its
# pattern constraints cost ~0.7 us each per record, our own match ~0.35 us for the time and a
# dict lookup for the (few, repeating) symbols.
class _LeanTick(msgspec.Struct, frozen=True, gc=False):
    symbol: str
    ts: str
    price: Annotated[float, msgspec.Meta(gt=0.0)]
    size: Annotated[float, msgspec.Meta(ge=0.0)] = 0.0
    trade_id: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_FIELD)] | None = None
    source: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_FIELD)] = "unknown"


class _LeanTickEnvelope(msgspec.Struct, frozen=True, gc=False):
    event_id: uuid.UUID
    event_type: Literal["Tick"]
    schema_version: Annotated[int, msgspec.Meta(ge=1)]
    occurred_at: str  # checked by _envelope_time_ok: only their validity matters here
    produced_at: str
    producer: Annotated[str, msgspec.Meta(min_length=1)]
    key: Annotated[str, msgspec.Meta(min_length=1)]
    payload: _LeanTick


_lean_decode = msgspec.json.Decoder(_LeanTickEnvelope).decode
_tick_time_ok = re.compile(_TICK_TIME).match
_symbol_ok = re.compile(_SYMBOL).match
_parse_time = datetime.fromisoformat


_as_datetime = msgspec.json.Decoder(datetime).decode
# Verdicts by text, for texts that repeat across records: symbols, and envelope times (a
# producer stamps many records with one produced_at). Bounded: cleared when full.
_time_verdicts: dict[str, bool] = {}
_symbol_verdicts: dict[str, bool] = {}
_VERDICTS_MAX = 4096


def _remember(verdicts: dict[str, bool], text: str, verdict: bool) -> bool:
    if len(verdicts) >= _VERDICTS_MAX:
        verdicts.clear()
    verdicts[text] = verdict
    return verdict


def _envelope_time_ok(text: str) -> bool:
    """Whether msgspec's RFC 3339 parser reads the time and ensure_utc can normalise it.

    RFC 3339 is a subset of what pydantic accepts, so True implies the contract accepts it.
    """
    verdict = _time_verdicts.get(text)
    if verdict is None:
        try:
            value = _as_datetime(msgspec.json.encode(text))
            if value.tzinfo is not None and value.tzinfo is not UTC:
                value.astimezone(UTC)
            verdict = True
        except (msgspec.ValidationError, msgspec.DecodeError, OverflowError, ValueError):
            verdict = False
        _remember(_time_verdicts, text, verdict)
    return verdict


def _fast(raw: bytes) -> tuple[uuid.UUID, _LeanTick, datetime] | None:
    """The fast path's verdict: (event id, payload, UTC tick time), or None for the oracle."""
    try:
        env = _lean_decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    lean = env.payload
    symbol_ok = _symbol_verdicts.get(lean.symbol)
    if symbol_ok is None:
        symbol_ok = _remember(_symbol_verdicts, lean.symbol, _symbol_ok(lean.symbol) is not None)
    # A key other than the symbol is refused by the oracle, which says why (event_keys.py).
    if not symbol_ok or env.key != lean.symbol or _tick_time_ok(lean.ts) is None:
        return None
    # msgspec reads huge literals as inf ("1e400" is refused, but not every spelling is).
    if not (lean.price < INF and lean.size < INF):
        return None
    try:
        ts = _parse_time(lean.ts)
        if ts.tzinfo is not UTC:
            ts = ts.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    # occurred_at is usually the trade time itself, already proven valid just above.
    if not (env.occurred_at == lean.ts or _envelope_time_ok(env.occurred_at)):
        return None
    if not _envelope_time_ok(env.produced_at):
        return None
    return env.event_id, lean, ts


def _decode_slow(raw: bytes) -> Tick | str:
    """The contract's decoder: the accepted Tick, or the reason it can never be processed."""
    try:
        envelope = decode(raw, expected=TICK_TOPIC_EVENTS)
    except DecodeError as exc:
        return _bare_payload_reason(raw) or str(exc)
    except OverflowError as exc:
        # The contract's ensure_utc lets this escape pydantic (e.g. year 1 at +01:00): the
        # record can never be processed, so it is a dead letter, not a crash of the batch.
        return f"invalid Tick: time out of range after conversion to UTC ({exc})"
    tick: Tick = envelope.payload
    if not isinstance(tick, Tick):
        return f"payload is not a Tick: {type(tick).__name__}"
    # Keyed otherwise, the tick sits in another partition than its symbol's other ticks, and
    # two replicas would each build a bar of the symbol (contract rule 5: known keys).
    wrong_key = key_problem(MARKET_TICKS.name, None, envelope)
    return tick if wrong_key is None else wrong_key


def _bare_payload_reason(raw: bytes) -> str | None:
    try:
        data: Any = json.loads(raw)
    except ValueError:
        return None
    if isinstance(data, dict) and "event_type" not in data and "symbol" in data:
        return "bare Tick payload without envelope: event_type, event_id and payload missing"
    return None


def decode_ticks(
    raws: list[bytes],
    clock: Clock,
    limits: TickLimits | None = None,
    last_prices: dict[str, float] | None = None,
) -> tuple[list[AcceptedTick], list[Rejection]]:
    """Decode and validate a batch of record values from market.ticks.v1.

    Returns the accepted ticks in batch order and (index, reason) for every rejected record.
    `clock.now()` is read once per batch. With `limits.max_relative_jump` set, `last_prices`
    (symbol -> last accepted price) is read and updated in place; the caller keeps it across
    batches and seeds it from its store after a restart.
    """
    lim = limits if limits is not None else TickLimits()
    horizon = clock.now() + lim.max_future
    max_price = lim.max_price
    max_jump = lim.max_relative_jump
    prices = last_prices if last_prices is not None else {}
    accepted: list[AcceptedTick] = []
    rejected: list[Rejection] = []
    append = accepted.append
    for index, raw in enumerate(raws):
        fast = _fast(raw)
        if fast is not None:
            event_id, lean, ts = fast
            symbol, price, size = lean.symbol, lean.price, lean.size
            trade_id, source = lean.trade_id, lean.source
        else:
            slow = _decode_slow(raw)
            if isinstance(slow, str):
                rejected.append(Rejection(index, slow))
                continue
            event_id = _envelope_id(raw)
            symbol, ts, price, size = slow.symbol, slow.ts, slow.price, slow.size
            trade_id, source = slow.trade_id, slow.source
        if price > max_price:
            rejected.append(Rejection(index, f"price {price!r} above max_price {max_price!r}"))
            continue
        if not EARLIEST_EVENT_TIME <= ts < LATEST_EVENT_TIME:
            # The contract's own bound (Tick.ts); its decoder says why, in its words.
            reason = _decode_slow(raw)
            rejected.append(Rejection(index, reason if isinstance(reason, str) else
                                      f"ts {ts.isoformat()} out of bounds"))  # fmt: skip
            continue
        if ts > horizon:
            rejected.append(Rejection(index, _future_reason(ts, horizon, lim.max_future)))
            continue
        if max_jump is not None:
            last = prices.get(symbol)
            if last is not None and abs(price / last - 1.0) > max_jump:
                rejected.append(Rejection(index, _jump_reason(symbol, price, last, max_jump)))
                continue
            prices[symbol] = price
        append(
            _new_tick(AcceptedTick, (event_id, symbol, epoch_us(ts), price, size, trade_id, source))
        )
    return accepted, rejected


def _envelope_id(raw: bytes) -> uuid.UUID:
    # Only reached after the contract decoder accepted the record, so the id is valid.
    return uuid.UUID(str(json.loads(raw)["event_id"]))


def _future_reason(ts: datetime, horizon: datetime, max_future: timedelta) -> str:
    ahead = (ts - (horizon - max_future)).total_seconds()
    return (
        f"ts {ts.isoformat()} is {ahead:.3f} s in the future "
        f"(max_future {max_future.total_seconds():g} s)"
    )


def _jump_reason(symbol: str, price: float, last: float, max_jump: float) -> str:
    return (
        f"price {price!r} moves {abs(price / last - 1.0):.2%} from the last accepted price "
        f"{last!r} of {symbol} (max_relative_jump {max_jump:.2%})"
    )


def first_occurrences(ticks: list[AcceptedTick]) -> list[AcceptedTick]:
    """Drop repeats of a tick id within one batch, keeping the first (producer retries)."""
    # UUID.__hash__ is Python code; its int is a slot read, and UUIDs are equal iff ints are.
    keys = [t.event_id.int for t in ticks]
    if len(set(keys)) == len(keys):
        return ticks
    seen: set[int] = set()
    unique: list[AcceptedTick] = []
    for key, tick in zip(keys, ticks, strict=True):
        if key not in seen:
            seen.add(key)
            unique.append(tick)
    return unique
