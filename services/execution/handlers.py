"""The consumer side of the execution adapter: OrderPlanned -> a recorded intent.

The handler runs inside the batch transaction and only records intents (an idempotent
upsert by order id, committed with the offsets); no broker call happens in a transaction.
A redelivered or replayed order finds its row and changes nothing, so it is placed once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from services.execution.domain import OrderIntent, intent_from_event
from services.execution.store import ExecutionStore
from shared.events import OrderPlanned
from shared.runtime.batch import BatchContext, Route, envelope_decoder
from shared.topics import PORTFOLIO_ORDERS

StoreFor = Callable[[asyncpg.Connection], ExecutionStore]


def decode_intent(payload: Any) -> OrderIntent:
    if not isinstance(payload, OrderPlanned):
        raise ValueError(f"expected OrderPlanned, got {type(payload).__name__}")
    return intent_from_event(payload)


class ExecutionHandlers:
    def __init__(self, store_for: StoreFor) -> None:
        self.store_for = store_for

    def routes(self) -> list[Route[Any]]:
        # Not aligned by event time: each order stands alone, and its effect at the broker
        # is the same whatever order the intents arrive in.
        decoder = envelope_decoder(
            PORTFOLIO_ORDERS.name, decode_intent, rejected_by="the execution adapter"
        )
        return [Route(PORTFOLIO_ORDERS.name, self.on_orders, decoder)]

    async def on_orders(self, intents: list[OrderIntent], ctx: BatchContext) -> None:
        await self.store_for(ctx.conn).record_intents(intents)
