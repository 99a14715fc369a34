"""The order desk: places pending orders at the broker and reconciles the open ones.

Both loops run outside any consumer transaction and talk to the broker between two short
units of work: claim (counts the attempt, commits) -> broker calls -> record the outcome
(commits). Exactly one order per order id at the broker follows from three rules:
  - every attempt carries the same client order id (domain.client_order_id);
  - an attempt after the first asks the broker for that client order id before submitting
    (the earlier one may have reached it: a crash, or a timeout whose order was created);
  - a 422 "client_order_id must be unique" means an earlier attempt got through: the order
    is read back by client order id and recorded as placed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter

from services.execution.broker import Broker, BrokerError, BrokerUnreachable
from services.execution.domain import (
    AlreadyPlaced,
    BrokerOrder,
    OrderIntent,
    OrderRecord,
    Placed,
    ReconcileError,
    Rejected,
    Throttled,
    Transient,
    reconcile,
    retry_delay,
    stale_reason,
)
from services.execution.store import ClaimedOrder, ExecutionStore

log = logging.getLogger(__name__)
OpenStore = Callable[[], AbstractAsyncContextManager[ExecutionStore]]
# What a broker call may raise that waiting can cure; ValueError: an unreadable answer.
BROKER_FAILURES = (BrokerUnreachable, BrokerError, ValueError)


class ExecutionMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.placements = Counter(
            "titan_execution_placements",
            "Orders recorded as placed at the broker, by how (placed, recovered, already_placed)",
            ["how"],
            registry=registry,
        )
        self.retries = Counter(
            "titan_execution_retries",
            "Placement attempts put off for later, by reason (throttled, transient)",
            ["reason"],
            registry=registry,
        )
        self.rejects = Counter(
            "titan_execution_rejects", "Orders the broker refused", registry=registry
        )
        self.reconciled = Counter(
            "titan_execution_reconciled",
            "Order state changes seen by reconciliation, by new state",
            ["state"],
            registry=registry,
        )


@dataclass(frozen=True)
class DeskSettings:
    batch_size: int
    lease_s: float
    backoff_initial_s: float
    backoff_max_s: float
    max_order_age_s: float = 0.0  # 0: no limit


class OrderDesk:
    def __init__(
        self,
        broker: Broker,
        open_store: OpenStore,
        metrics: ExecutionMetrics,
        s: DeskSettings,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.now = now
        self.broker = broker
        self.open_store = open_store
        self.metrics = metrics
        self.s = s

    def _delay(self, attempts: int, retry_after_s: float | None = None) -> float:
        return retry_delay(
            attempts, retry_after_s, initial_s=self.s.backoff_initial_s, max_s=self.s.backoff_max_s
        )

    async def place_due(self) -> int:
        """Claim the due orders and place them one by one; returns how many were claimed."""
        async with self.open_store() as store:
            claimed = await store.claim_due(self.s.batch_size, self.s.lease_s)
        for i, order in enumerate(claimed):
            pause = await self.place(order)
            if pause is not None:
                # The rate limit is the account's: the rest of the batch waits with it.
                for later in claimed[i + 1 :]:
                    await self._retry(later.intent.order_id, pause, "throttled", "rate limited")
                break
        return len(claimed)

    async def place(self, claimed: ClaimedOrder) -> float | None:
        """One attempt for one order; returns a pause when the broker throttled us."""
        intent = claimed.intent
        stale = stale_reason(intent.decided_at, self.now(), self.s.max_order_age_s)
        try:
            if claimed.attempts > 1:
                existing = await self.broker.by_client_order_id(intent.client_order_id)
                if existing is not None:
                    await self._placed(intent, existing, "recovered")
                    return None
            if stale is not None:
                await self._rejected(intent, stale)
                return None
            outcome = await self.broker.submit(intent)
            if isinstance(outcome, AlreadyPlaced):
                existing = await self.broker.by_client_order_id(intent.client_order_id)
                if existing is None:
                    raise BrokerError(f"duplicate {intent.client_order_id} but no such order")
                await self._placed(intent, existing, "already_placed")
            elif isinstance(outcome, Placed):
                await self._placed(intent, outcome.order, "placed")
            elif isinstance(outcome, Rejected):
                await self._rejected(intent, outcome.reason)
            elif isinstance(outcome, Throttled):
                pause = self._delay(claimed.attempts, outcome.retry_after_s)
                await self._retry(intent.order_id, pause, "throttled", "HTTP 429")
                return pause
            elif isinstance(outcome, Transient):
                delay = self._delay(claimed.attempts)
                await self._retry(intent.order_id, delay, "transient", outcome.reason)
        except BROKER_FAILURES as exc:
            delay = self._delay(claimed.attempts)
            await self._retry(intent.order_id, delay, "transient", f"{type(exc).__name__}: {exc}")
        return None

    async def _placed(self, intent: OrderIntent, order: BrokerOrder, how: str) -> None:
        record = reconcile(OrderRecord(intent.order_id, intent.client_order_id, "pending"), order)
        async with self.open_store() as store:
            await store.record_outcome(record)
        self.metrics.placements.labels(how).inc()
        log.info("order %s placed (%s) as %s: %s", intent.order_id, how, order.id, order.status)

    async def _rejected(self, intent: OrderIntent, reason: str) -> None:
        record = OrderRecord(intent.order_id, intent.client_order_id, "rejected", reason=reason)
        async with self.open_store() as store:
            await store.record_outcome(record)
        self.metrics.rejects.inc()
        log.warning("order %s rejected: %s", intent.order_id, reason)

    async def _retry(self, order_id: str, delay_s: float, why: str, error: str) -> None:
        async with self.open_store() as store:
            await store.schedule_retry(order_id, delay_s, error)
        self.metrics.retries.labels(why).inc()
        log.info("order %s: %s (%s); next attempt in %.2fs", order_id, why, error, delay_s)

    async def reconcile_open(self) -> int:
        """Poll each open order once; returns how many changed."""
        async with self.open_store() as store:
            records = await store.open_orders(self.s.batch_size)
        changed = 0
        for record in records:
            if record.broker_order_id is None:
                continue
            try:
                order = await self.broker.order(record.broker_order_id)
            except BROKER_FAILURES as exc:
                log.warning("reconciling %s: %s", record.order_id, exc)
                continue
            if order is None:
                log.warning("broker has no order %s (order %s)", record.broker_order_id,
                            record.order_id)  # fmt: skip
                continue
            try:
                updated = reconcile(record, order)
            except ReconcileError as exc:
                # Someone else's order under our id: a person must look; the others go on.
                log.error("reconciling %s: %s", record.order_id, exc)
                continue
            async with self.open_store() as store:
                await store.record_reconciled(updated)
            if (updated.state, updated.filled_qty) != (record.state, record.filled_qty):
                changed += 1
                self.metrics.reconciled.labels(updated.state).inc()
        return changed


async def every(interval_s: float, what: str, step: Callable[[], Awaitable[int]]) -> None:
    """Run `step` forever, again at once while it finds work, else after `interval_s`.
    A failing step (database down) is logged and tried again: the loop never dies."""
    while True:
        try:
            busy = await step()
        except Exception:
            log.exception("%s failed; trying again in %.1fs", what, interval_s)
            busy = 0
        await asyncio.sleep(0 if busy else interval_s)
