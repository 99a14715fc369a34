"""A tiny service, declared the way the five real ones are (docs/architecture.md, "Adding a
service"): it counts the daily bars of each symbol, keeps the counts in a table and in
memory, serves them over HTTP, and clears them through a unit of work.

Run for real it would be `ServiceRunner(definition(), CounterSettings(), KafkaSettings())`;
test_example_service.py builds it and runs one batch through `BatchProcessor`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from shared.events import Bar
from shared.runtime.batch import BatchContext, Route, envelope_decoder
from shared.runtime.service import ServiceContext, ServiceDefinition
from shared.settings import ServiceSettings
from shared.topics import MARKET_BARS


class CounterSettings(ServiceSettings):
    """TITAN_COUNTER_INTERVAL: which bars are counted."""

    counter_interval: str = "1d"


@dataclass(frozen=True)
class Close:
    """The domain value the route's decoder makes of a bar envelope."""

    symbol: str
    close: float


@dataclass
class Counter:
    """The service's state (its app): bars seen per symbol."""

    interval: str
    counts: dict[str, int] = field(default_factory=dict)

    def close_of(self, bar: Bar) -> Close:
        if bar.interval != self.interval:
            raise ValueError(f"{bar.interval} bar; this counter counts {self.interval}")
        return Close(bar.symbol, bar.close)

    async def handle_closes(self, items: list[Close], ctx: BatchContext) -> None:
        """Typed items in, effects as upserts in the batch's transaction (ctx.conn)."""
        for item in items:
            self.counts[item.symbol] = self.counts.get(item.symbol, 0) + 1
        await ctx.conn.executemany(
            "INSERT INTO bar_counts (symbol, bars, last_close) VALUES ($1, 1, $2) "
            "ON CONFLICT (symbol) DO UPDATE SET bars = bar_counts.bars + 1, last_close = $2",
            [(item.symbol, item.close) for item in items],
        )


Context = ServiceContext[CounterSettings, Counter]


def definition() -> ServiceDefinition[CounterSettings, Counter]:
    return ServiceDefinition(
        name="counter",  # also its PostgreSQL schema
        settings=CounterSettings,
        build_app=lambda rt: Counter(rt.settings.counter_interval),
        routes=routes,
        migrations=[("counter", Path(__file__).parent / "example_migrations")],
        api=api,
        on_start=load,
    )


def routes(ctx: Context) -> list[Route[Any]]:
    # A bar of another interval is rejected by the converter: a dead letter, not an error.
    decode = envelope_decoder(MARKET_BARS.name, ctx.app.close_of, rejected_by="counter")
    return [Route(MARKET_BARS.name, ctx.app.handle_closes, decode)]


async def load(ctx: Context) -> None:
    """State from the tables: at start-up and before a failed batch is retried."""
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT symbol, bars FROM bar_counts")
    ctx.app.counts = {r["symbol"]: r["bars"] for r in rows}


def api(ctx: Context) -> APIRouter:
    router = APIRouter(tags=["counter"])

    @router.get("/counts")
    async def counts() -> dict[str, int]:
        async with ctx.transaction() as conn:
            rows = await conn.fetch("SELECT symbol, bars FROM bar_counts")
        return {r["symbol"]: r["bars"] for r in rows}

    @router.delete("/counts")
    async def clear() -> None:
        # Outside a batch every change goes through a unit of work (events it emits are
        # written to the outbox before commit and published after it).
        async with ctx.unit_of_work() as uow:
            await uow.conn.execute("DELETE FROM bar_counts")
        ctx.app.counts.clear()  # after commit (the consumer reloads state on a retry)

    return router
