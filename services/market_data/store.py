"""SQL of the market_data service: ticks (deduplicated by id), bars, late ticks, watermarks."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

import asyncpg

from services.market_data.domain.bar_state import BarRow, LateTick
from services.market_data.domain.validation import AcceptedTick, from_epoch_us

BAR_COLUMNS = (
    "bar_id",
    "symbol",
    "interval",
    "start",
    "end",
    "open",
    "high",
    "low",
    "close",
    "open_ts_us",
    "close_ts_us",
    "volume",
    "vwap_numerator",
    "price_sum",
    "trade_count",
    "revision",
    "closed",
)


TICK_COLUMNS = ["tick_id", "symbol", "ts", "price", "size", "trade_id", "source"]

# PostgreSQL's binary COPY format: signature, flags, header extension length; -1 ends it.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
# timestamptz travels as microseconds since 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
_LOW_64 = (1 << 64) - 1
# One compiled row layout per (symbol, trade_id, source) byte lengths; trade_id -1 = NULL.
_row_layouts: dict[tuple[int, int, int], struct.Struct] = {}


def _row_layout(key: tuple[int, int, int]) -> struct.Struct:
    symbol_len, trade_id_len, source_len = key
    trade_id = "i" if trade_id_len < 0 else f"i{trade_id_len}s"
    # 7 fields, each a length then its bytes: uuid (its 128-bit int as two halves: UUID.bytes
    # is a Python property), symbol, ts, price, size, trade_id, source.
    layout = struct.Struct(f">hiQQi{symbol_len}siqidid{trade_id}i{source_len}s")
    if len(_row_layouts) < 4096:
        _row_layouts[key] = layout
    return layout


def tick_copy_payload(ticks: Sequence[AcceptedTick]) -> bytes:
    """The ticks as one binary COPY stream in TICK_COLUMNS order.

    asyncpg's record encoder spends a few microseconds per row on per-value codec calls; one
    struct.pack per row with a cached layout costs a fraction of that, on the event loop's
    critical path.
    """
    parts = [_COPY_HEADER]
    append = parts.append
    layouts = _row_layouts
    for tick in ticks:
        ident = tick.event_id.int
        symbol = tick.symbol.encode()
        source = tick.source.encode()
        trade_id = tick.trade_id
        if trade_id is None:
            key = (len(symbol), -1, len(source))
            layout = layouts.get(key) or _row_layout(key)
            row = layout.pack(
                7, 16, ident >> 64, ident & _LOW_64, key[0], symbol, 8, tick.ts_us - _PG_EPOCH_US,
                8, tick.price, 8, tick.size, -1, key[2], source,
            )  # fmt: skip
        else:
            trade = trade_id.encode()
            key = (len(symbol), len(trade), len(source))
            layout = layouts.get(key) or _row_layout(key)
            row = layout.pack(
                7, 16, ident >> 64, ident & _LOW_64, key[0], symbol, 8, tick.ts_us - _PG_EPOCH_US,
                8, tick.price, 8, tick.size, key[1], trade, key[2], source,
            )  # fmt: skip
        append(row)
    append(_COPY_TRAILER)
    return b"".join(parts)


async def _copy_ticks(conn: asyncpg.Connection, table: str, payload: bytes) -> None:
    # A buffer, written in one go (a file is read through a thread; and asyncpg would take
    # plain bytes for a path).
    await conn.copy_to_table(
        table, columns=TICK_COLUMNS, source=memoryview(payload), format="binary"
    )


T = TypeVar("T")


class MarketDataStore:
    async def prepare(self, conn: asyncpg.Connection) -> None:
        """Per-connection staging tables for COPY; emptied at every commit."""
        await conn.execute(
            """
            CREATE TEMP TABLE IF NOT EXISTS tick_stage (LIKE ticks) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS bar_stage (LIKE bars) ON COMMIT DELETE ROWS;
            """
        )

    async def insert_fresh_ticks(
        self, conn: asyncpg.Connection, ticks: Sequence[AcceptedTick]
    ) -> Sequence[AcceptedTick]:
        """Store ticks (ids unique within `ticks`); returns those not stored before, in order.

        The common case, a batch of new ticks, is one COPY straight into `ticks` inside a
        savepoint. A duplicate of a stored tick (a redelivery) makes that COPY fail as a whole;
        the savepoint is rolled back and the batch goes the slower way, through the staging
        table and INSERT ... ON CONFLICT DO NOTHING, which tells which ticks were new.
        """
        if not ticks:
            return []
        payload = tick_copy_payload(ticks)
        all_new, _ = await self.copy_if_all_new(conn, payload, lambda: None)
        if all_new:
            return ticks
        return await self.insert_fresh_through_stage(conn, ticks, payload)

    async def copy_if_all_new(
        self, conn: asyncpg.Connection, payload: bytes, meanwhile: Callable[[], T]
    ) -> tuple[bool, T]:
        """COPY `payload` (tick_copy_payload) straight into ticks, running `meanwhile()`
        while the server ingests it; (False, ...) and nothing stored if any tick was stored
        before (then use insert_fresh_through_stage).

        The COPY and its data are on the socket before `meanwhile` starts, so the server's
        work (index and heap inserts, WAL) overlaps the caller's CPU work on this core. The
        COPY runs in a savepoint: a duplicate fails it as a whole and only it is undone.
        """
        savepoint = conn.transaction()
        await savepoint.start()
        copying = asyncio.ensure_future(_copy_ticks(conn, "ticks", payload))
        try:
            await asyncio.sleep(0)  # the task's first step writes the COPY and all its data
            result = meanwhile()
        except BaseException:
            # The batch's transaction is going to roll back: just leave the connection idle.
            with contextlib.suppress(Exception):
                await copying
            with contextlib.suppress(Exception):
                await savepoint.rollback()
            raise
        try:
            await copying
        except asyncpg.UniqueViolationError:
            await savepoint.rollback()
            return False, result
        except BaseException:
            with contextlib.suppress(Exception):
                await savepoint.rollback()
            raise
        await savepoint.commit()
        return True, result

    async def insert_fresh_through_stage(
        self, conn: asyncpg.Connection, ticks: Sequence[AcceptedTick], payload: bytes
    ) -> Sequence[AcceptedTick]:
        """The slow way, for a batch with redelivered ticks: those not stored before."""
        new_ids = await self._insert_through_stage(conn, payload)
        return [t for t in ticks if t.event_id in new_ids]

    async def insert_new_ticks(
        self, conn: asyncpg.Connection, ticks: Sequence[AcceptedTick]
    ) -> set[object]:
        """Store ticks; returns the ids that were not stored before (duplicates are ignored)."""
        if not ticks:
            return set()
        return await self._insert_through_stage(conn, tick_copy_payload(ticks))

    async def _insert_through_stage(self, conn: asyncpg.Connection, payload: bytes) -> set[object]:
        await self.prepare(conn)
        await _copy_ticks(conn, "tick_stage", payload)
        stored = await conn.fetch(
            """INSERT INTO ticks SELECT * FROM tick_stage
               ON CONFLICT DO NOTHING RETURNING tick_id"""
        )
        return {r["tick_id"] for r in stored}

    async def upsert_bars(self, conn: asyncpg.Connection, rows: Sequence[BarRow]) -> None:
        if not rows:
            return
        await self.prepare(conn)
        await conn.copy_records_to_table(
            "bar_stage",
            columns=list(BAR_COLUMNS),
            records=[
                (
                    r.bar_id,
                    r.symbol,
                    r.interval,
                    from_epoch_us(r.start_us),
                    from_epoch_us(r.end_us),
                    r.open,
                    r.high,
                    r.low,
                    r.close,
                    r.open_ts_us,
                    r.close_ts_us,
                    r.volume,
                    r.vwap_numerator,
                    r.price_sum,
                    r.trade_count,
                    r.revision,
                    r.closed,
                )
                for r in rows
            ],
        )
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in BAR_COLUMNS[1:])
        await conn.execute(
            # The stage is emptied by the same statement: a batch may upsert twice (its ticks,
            # then the bars its feed watermark closes) before ON COMMIT clears it.
            f"""WITH staged AS (DELETE FROM bar_stage RETURNING *)
                INSERT INTO bars SELECT * FROM staged
                ON CONFLICT (symbol, interval, start) DO UPDATE SET {updates}"""
        )

    async def insert_late(self, conn: asyncpg.Connection, late: Sequence[LateTick]) -> None:
        if not late:
            return
        await conn.executemany(
            """INSERT INTO late_ticks (tick_id, interval, symbol, ts, price, size, lateness_us)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
            [
                (
                    x.tick.event_id,
                    x.interval,
                    x.tick.symbol,
                    x.tick.ts,
                    x.tick.price,
                    x.tick.size,
                    x.lateness_us,
                )
                for x in late
            ],
        )

    async def save_watermarks(self, conn: asyncpg.Connection, marks: dict[str, int]) -> None:
        if not marks:
            return
        await conn.execute(
            """INSERT INTO watermarks (symbol, watermark_us)
               SELECT * FROM unnest($1::text[], $2::bigint[])
               ON CONFLICT (symbol) DO UPDATE SET watermark_us = EXCLUDED.watermark_us""",
            list(marks),
            list(marks.values()),
        )

    async def load_state(
        self, conn: asyncpg.Connection, max_grace_us: int
    ) -> tuple[dict[str, int], list[BarRow]]:
        """Watermarks and the bars that can still change: open, or closed within grace."""
        marks = {
            r["symbol"]: r["watermark_us"] for r in await conn.fetch("SELECT * FROM watermarks")
        }
        rows = await conn.fetch(
            f"""
            SELECT {", ".join(f'b."{c}"' for c in BAR_COLUMNS)}
            FROM bars b JOIN watermarks w USING (symbol)
            WHERE NOT b.closed
               OR (extract(epoch FROM b."end") * 1000000)::bigint + $1 > w.watermark_us
            """,
            max_grace_us,
        )
        bars = [
            BarRow(
                r["bar_id"],
                r["symbol"],
                r["interval"],
                _us(r["start"]),
                _us(r["end"]),
                r["open"],
                r["high"],
                r["low"],
                r["close"],
                r["open_ts_us"],
                r["close_ts_us"],
                r["volume"],
                r["vwap_numerator"],
                r["price_sum"],
                r["trade_count"],
                r["revision"],
                r["closed"],
            )
            for r in rows
        ]
        return marks, bars

    async def late_count(self, conn: asyncpg.Connection) -> int:
        value: int = await conn.fetchval("SELECT count(*) FROM late_ticks")
        return value

    async def symbols(self, conn: asyncpg.Connection) -> list[dict[str, object]]:
        rows = await conn.fetch(
            """SELECT symbol, interval, count(*) AS bars, min(start) AS first, max(start) AS last
               FROM bars WHERE closed GROUP BY symbol, interval ORDER BY symbol, interval"""
        )
        return [dict(r) for r in rows]

    async def known_symbols(
        self, conn: asyncpg.Connection, symbols: Sequence[str], interval: str
    ) -> set[str]:
        """Which of `symbols` have at least one closed bar of `interval` (one index probe each)."""
        rows = await conn.fetch(
            """SELECT s.symbol FROM unnest($1::text[]) AS s(symbol)
               WHERE EXISTS (SELECT 1 FROM bars b
                             WHERE b.symbol = s.symbol AND b.interval = $2 AND b.closed)""",
            list(symbols),
            interval,
        )
        return {str(r["symbol"]) for r in rows}

    async def bars(
        self,
        conn: asyncpg.Connection,
        symbols: Sequence[str],
        interval: str,
        start: datetime | None,
        end: datetime | None,
        after: tuple[str, datetime] | None,
        limit: int,
    ) -> list[asyncpg.Record]:
        """Closed bars in (symbol, start) order, keyset-paged after `after`."""
        return list(
            await conn.fetch(
                """
                SELECT symbol, interval, start, "end", open, high, low, close, volume,
                       CASE WHEN volume > 0 THEN vwap_numerator / volume
                            ELSE price_sum / trade_count END AS vwap,
                       trade_count, revision
                FROM bars
                WHERE closed AND interval = $2 AND symbol = ANY($1::text[])
                  AND ($3::timestamptz IS NULL OR start >= $3)
                  AND ($4::timestamptz IS NULL OR start < $4)
                  AND ($5::text IS NULL OR (symbol, start) > ($5::text, $6::timestamptz))
                ORDER BY symbol, start
                LIMIT $7
                """,
                list(symbols),
                interval,
                start,
                end,
                after[0] if after else None,
                after[1] if after else None,
                limit,
            )
        )


def _us(value: datetime) -> int:
    from services.market_data.domain.validation import epoch_us

    return epoch_us(value)
