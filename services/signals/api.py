"""Query API of the signals service: open positions, signal history, a live SSE stream.

GET /signals/stream sends each committed signal as one Server-Sent Event whose `id:` is
the signal's commit sequence number; a client that reconnects with `Last-Event-ID` (or
`?last_event_id=`) gets everything committed after it. Without either the stream starts at
the signals committed from now on. The table is polled; with several replicas writing, a
row that commits after a higher-numbered one is still delivered as long as it commits within
the poll interval's look-back (see `_RECHECK`), which covers a single writer exactly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from core.strategy import split_pair_id
from services.signals.store import (
    MAX_HISTORY_LIMIT,
    ActivePosition,
    SignalsStore,
    StoredSignal,
    params_to_json,
)

OpenStore = Callable[[], AbstractAsyncContextManager[SignalsStore]]
# A comment line every 15 s keeps proxies from closing an idle stream.
HEARTBEAT_S = 15.0
# A stream ends after this long and the client reconnects with Last-Event-ID (the SSE
# `retry:` is 1 s). It bounds how long an open stream can hold up the HTTP server's shutdown.
STREAM_MAX_S = 30.0
STREAM_CHUNK = 500


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check_pair(pair_id: str | None) -> None:
    if pair_id is None:
        return
    try:
        split_pair_id(pair_id)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def _signal_json(stored: StoredSignal) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stored.signal.model_dump_json())
    data["seq"] = stored.seq
    return data


def _position_json(active: ActivePosition) -> dict[str, Any]:
    p = active.position
    return {
        "pair_id": p.pair_id,
        "side": "long_spread" if p.direction > 0 else "short_spread",
        "direction": p.direction,
        "entry_time": p.entry_time.isoformat(),
        "entry_z": p.entry_z,
        "hedge_ratio": p.hedge_ratio,
        "bars_held": p.bars_held,
        "params_version": p.params_version,
        "params": p.params,
        "legs": p.legs,
        "opening_signal_id": p.opening_signal_id,
        "opening_signal": None
        if active.opening_signal is None
        else json.loads(active.opening_signal.model_dump_json()),
    }


def _parse_last_event_id(header: str | None, query: int | None) -> int | None:
    if query is not None:
        return query
    if header is None or header.strip() == "":
        return None
    try:
        value = int(header.strip())
    except ValueError:
        raise HTTPException(
            status_code=400, detail=f"Last-Event-ID must be an integer seq, got {header!r}"
        ) from None
    if value < 0:
        raise HTTPException(status_code=400, detail=f"Last-Event-ID must be >= 0, got {value}")
    return value


def build_router(
    open_store: OpenStore, *, poll_s: float = 0.25, stream_max_s: float = STREAM_MAX_S
) -> APIRouter:
    router = APIRouter(prefix="/signals", tags=["signals"])

    @router.get("/active", summary="Open positions with the signal that opened each")
    async def active() -> dict[str, Any]:
        async with open_store() as store:
            positions = await store.active_positions()
        return {"positions": [_position_json(a) for a in positions], "count": len(positions)}

    @router.get("/params", summary="Parameter sets in force per pair and regime")
    async def params() -> dict[str, Any]:
        async with open_store() as store:
            sets = await store.params_in_force()
        rows = [
            {
                "pair_id": s.pair_key,
                "regime": s.regime,
                "version": s.params.version,
                "no_trade": s.no_trade,
                "params": params_to_json(s.params),
            }
            for s in sets
        ]
        return {"params": rows, "count": len(rows)}

    @router.get("", summary="Signal history by bar time (start inclusive, end exclusive)")
    async def history(
        pair_id: Annotated[str | None, Query(description="pair id A~B")] = None,
        start: Annotated[datetime | None, Query(description="ISO time, UTC if naive")] = None,
        end: Annotated[datetime | None, Query(description="ISO time, UTC if naive")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_LIMIT)] = 1000,
    ) -> dict[str, Any]:
        _check_pair(pair_id)
        start_utc, end_utc = _utc(start), _utc(end)
        if start_utc is not None and end_utc is not None and start_utc >= end_utc:
            raise HTTPException(
                status_code=400,
                detail=f"start ({start_utc.isoformat()}) must be before end ({end_utc.isoformat()})",
            )
        async with open_store() as store:
            rows = await store.history(pair_id, start_utc, end_utc, limit)
        return {"signals": [_signal_json(r) for r in rows], "count": len(rows)}

    @router.get(
        "/stream",
        summary="Server-Sent Events: each signal as it is committed (resume with Last-Event-ID)",
        response_class=StreamingResponse,
    )
    async def stream(
        request: Request,
        last_event_id: Annotated[int | None, Query(ge=0)] = None,
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> StreamingResponse:
        after = _parse_last_event_id(last_event_id_header, last_event_id)
        if after is None:
            async with open_store() as store:
                after = await store.last_seq()
        return StreamingResponse(
            _events(request, open_store, after, poll_s, stream_max_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router


async def _events(
    request: Request, open_store: OpenStore, after: int, poll_s: float, max_s: float
) -> AsyncIterator[str]:
    last = after
    started = last_sent = time.monotonic()
    yield f": stream from seq {after}\nretry: 1000\n\n"
    while not await request.is_disconnected() and time.monotonic() - started < max_s:
        async with open_store() as store:
            rows = await store.signals_after(last, STREAM_CHUNK)
        for row in rows:
            data = json.dumps(_signal_json(row), separators=(",", ":"))
            yield f"id: {row.seq}\nevent: SignalEmitted\ndata: {data}\n\n"
            last = row.seq
            last_sent = time.monotonic()
        if len(rows) == STREAM_CHUNK:
            continue
        if time.monotonic() - last_sent >= HEARTBEAT_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(poll_s)
