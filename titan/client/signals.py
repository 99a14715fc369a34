"""`titan.signals`: open positions, stored history, a live subscription to signals.v1."""

from __future__ import annotations

from typing import Any

import pandas as pd

from services.signals.stream_position import (
    StartAt,
    StreamPosition,
    format_position,
    parse_position,
)
from shared.events import SignalEmitted
from titan.client.results import When, frame, iso
from titan.client.transport import Transport

MAX_ROWS = 10_000
POSITION_COLUMNS = ["pair_id", "side", "direction", "entry_time", "entry_z", "hedge_ratio",
                    "bars_held", "params_version", "params", "legs", "opening_signal_id"]  # fmt: skip
SIGNAL_COLUMNS = ["seq", "signal_id", "pair_id", "action", "reason", "bar_time", "z_score",
                  "hedge_ratio", "regime", "params_version", "legs"]  # fmt: skip


__all__ = ["Signals", "StreamPosition", "Subscription", "format_position", "parse_position"]


class Subscription:
    """Signals as they reach signals.v1: an async iterator of `SignalEmitted` (exact copies
    dropped), also `poll(max_records, timeout)`. Close it (or use `async with`).

    `await position()` is where to resume later (partition -> next offset; as text with
    `format_position`); a new subscription started from it gets exactly what came after."""

    def __init__(self, bootstrap: str, prefix: str, start: Any, group_id: str | None) -> None:
        from services.signals.client import SignalSubscriber

        self._sub = SignalSubscriber(bootstrap, topic_prefix=prefix, start=start, group_id=group_id)
        self.topic = self._sub.topic

    async def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[SignalEmitted]:  # noqa: ASYNC109
        await self._sub.start()
        return [e.payload for e in await self._sub.poll(max_records, timeout)]

    async def position(self) -> dict[int, int]:
        """Partition -> next offset, past everything polled or iterated (see SignalSubscriber)."""
        return await self._sub.position()

    async def close(self) -> None:
        await self._sub.stop()

    async def __aenter__(self) -> Subscription:
        await self._sub.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> SignalEmitted:
        await self._sub.start()
        envelope = await self._sub.__anext__()
        return envelope.payload


class Signals:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def active(self) -> pd.DataFrame:
        """Open positions, one row per pair, with the parameters and legs they opened with."""
        data = await self._t.get_json("signals", "/signals/active")
        return frame(data["positions"], POSITION_COLUMNS, times=("entry_time",))

    async def history(
        self,
        pair_id: str | None = None,
        start: When | None = None,
        end: When | None = None,
        limit: int = MAX_ROWS,
    ) -> pd.DataFrame:
        """Stored signals by bar time (`start` inclusive, `end` exclusive)."""
        params = {"pair_id": pair_id, "start": iso("start", start), "end": iso("end", end),
                  "limit": limit}  # fmt: skip
        data = await self._t.get_json("signals", "/signals", params)
        return frame(data["signals"], SIGNAL_COLUMNS, times=("bar_time",))

    def subscribe(self, from_: StartAt = "now", group_id: str | None = None) -> Subscription:
        """Follow signals.v1 from the beginning, from now, from a time, or from a position
        an earlier subscription gave (`position()`; its text via `parse_position`)."""
        addresses = self._t.addresses
        return Subscription(addresses.bootstrap(), addresses.prefix(), from_, group_id)
