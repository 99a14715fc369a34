"""Inputs several services read the same way, so they are decoded and ordered in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.events import Bar, Envelope
from shared.runtime.batch import DeadLetters, Decoder, envelope_decoder
from shared.runtime.records import ConsumedRecord
from shared.topics import MARKET_BARS


def bar_order(envelope: Envelope[Bar]) -> tuple[datetime, tuple[Any, ...]]:
    """Event time of a bar (its end: the contract's occurred_at) and its place among the
    bars of that time; revisions after the bar they revise."""
    bar = envelope.payload
    return envelope.occurred_at, (bar.symbol, bar.interval, bar.revision)


def bars_decoder(interval: str) -> Decoder[Envelope[Bar]]:
    """Bar envelopes of one interval; the others are not waited for (nothing uses them)."""
    decode = envelope_decoder(MARKET_BARS.name)

    def _decode(records: Sequence[ConsumedRecord]) -> tuple[list[Envelope[Bar]], DeadLetters]:
        items, dead = decode(records)
        return [e for e in items if e.payload.interval == interval], dead

    return _decode
