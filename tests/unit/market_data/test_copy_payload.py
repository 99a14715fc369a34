"""The binary COPY stream of ticks carries every field as PostgreSQL reads it."""

from __future__ import annotations

import struct
import uuid
from typing import Any

from services.market_data.domain import AcceptedTick
from services.market_data.store import TICK_COLUMNS, tick_copy_payload
from tests.unit.market_data.ticks_factory import accepted

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 UTC, PostgreSQL's timestamptz origin


def parse_copy(payload: bytes) -> list[list[bytes | None]]:
    """Rows of a binary COPY stream, each field's raw bytes (None for NULL)."""
    assert payload.startswith(b"PGCOPY\n\xff\r\n\x00")
    pos = 11 + 8  # signature, flags, header extension length
    rows: list[list[bytes | None]] = []
    while True:
        (n_fields,) = struct.unpack_from(">h", payload, pos)
        pos += 2
        if n_fields == -1:
            assert pos == len(payload)
            return rows
        row: list[bytes | None] = []
        for _ in range(n_fields):
            (length,) = struct.unpack_from(">i", payload, pos)
            pos += 4
            row.append(None if length < 0 else payload[pos : pos + length])
            pos += max(length, 0)
        rows.append(row)


def as_columns(tick: AcceptedTick) -> list[Any]:
    return [
        tick.event_id,
        tick.symbol,
        tick.ts_us,
        tick.price,
        tick.size,
        tick.trade_id,
        tick.source,
    ]


def test_each_row_holds_the_tick_fields_in_column_order() -> None:
    ticks = [
        accepted("AAPL", 1.5, 187.25, 100.0)._replace(trade_id="T-1", source="nasdaq"),
        accepted("BRK.B", 2.0, 412.5, 0.0, n=1),
        # An id with the top bit set: its high half does not fit a signed 64-bit field.
        accepted("X", 3.0, 1.0)._replace(event_id=uuid.UUID(int=(1 << 128) - 2)),
    ]
    rows = parse_copy(tick_copy_payload(ticks))
    assert len(rows) == len(ticks) and all(len(r) == len(TICK_COLUMNS) for r in rows)
    decoded = [
        [
            uuid.UUID(bytes=r[0]),
            r[1].decode(),
            struct.unpack(">q", r[2])[0] + PG_EPOCH_US,
            struct.unpack(">d", r[3])[0],
            struct.unpack(">d", r[4])[0],
            None if r[5] is None else r[5].decode(),
            r[6].decode(),
        ]
        for r in rows
    ]
    assert decoded == [as_columns(t) for t in ticks]
