"""SQL of the market_data service: ticks (deduplicated by id), bars, late ticks, watermarks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter

import asyncpg

from services.market_data.domain.bar_state import BarRow, LateTick, from_epoch_us
from services.market_data.domain.validation import AcceptedTick

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
# AcceptedTick -> ticks row: every field but ts_us, in C.
_tick_row = itemgetter(0, 1, 2, 4, 5, 6, 7)


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
        rows = list(map(_tick_row, ticks))
        try:
            async with conn.transaction():  # nested: a savepoint
                await conn.copy_records_to_table("ticks", columns=TICK_COLUMNS, records=rows)
            return ticks
        except asyncpg.UniqueViolationError:
            pass
        new_ids = await self._insert_through_stage(conn, rows)
        return [t for t in ticks if t.event_id in new_ids]

    async def insert_new_ticks(
        self, conn: asyncpg.Connection, ticks: Sequence[AcceptedTick]
    ) -> set[object]:
        """Store ticks; returns the ids that were not stored before (duplicates are ignored)."""
        if not ticks:
            return set()
        return await self._insert_through_stage(conn, list(map(_tick_row, ticks)))

    async def _insert_through_stage(
        self, conn: asyncpg.Connection, rows: list[tuple[object, ...]]
    ) -> set[object]:
        await self.prepare(conn)
        await conn.copy_records_to_table("tick_stage", columns=TICK_COLUMNS, records=rows)
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
            f"""INSERT INTO bars SELECT * FROM bar_stage
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
