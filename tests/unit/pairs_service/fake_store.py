"""In-memory PairsStore (subclasses the port) for handler tests and the contract suite."""

from __future__ import annotations

import copy
import uuid
from datetime import datetime
from typing import Any

from services.pairs.domain.lifecycle import PairRecord
from services.pairs.domain.pipeline import Effects
from services.pairs.domain.spread import TrackerState
from services.pairs.domain.universe import BarClose, DeferredBar
from services.pairs.store import ClockRow, PairsStore, ScreenRequest, Snapshot


class FakePairsStore(PairsStore):
    def __init__(self) -> None:
        self.bars: dict[tuple[str, str, datetime], BarClose] = {}
        self.deferred: dict[tuple[str, str, datetime, int, datetime], DeferredBar] = {}
        self.clock: dict[str, ClockRow] = {}
        self.times: dict[tuple[str, int], datetime] = {}
        self.pairs: dict[str, PairRecord] = {}
        self.tests: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
        self.trackers: dict[str, TrackerState] = {}
        self.spreads: dict[tuple[str, datetime], Any] = {}
        self.requests: dict[uuid.UUID, ScreenRequest] = {}
        self.request_intervals: dict[uuid.UUID, str] = {}

    def copy(self) -> FakePairsStore:
        """A committed-state snapshot (tests roll back by keeping the copy)."""
        return copy.deepcopy(self)

    async def lock_clock(self, interval: str) -> ClockRow:
        return self.clock.setdefault(interval, ClockRow(0, None))

    async def load_snapshot(self, interval: str, keep_rows: int) -> Snapshot:
        clock = self.clock.get(interval, ClockRow(0, None))
        times = [
            t for (iv, seq), t in sorted(self.times.items())
            if iv == interval and seq > clock.n_complete - keep_rows
        ]  # fmt: skip
        since = times[0] if times else None
        mine = [b for (iv, _, _), b in self.bars.items() if iv == interval]
        rows = sorted(
            (b for b in mine if since is None or b.bar_time >= since),
            key=lambda b: (b.bar_time, b.symbol),
        )
        latest: dict[str, datetime] = {}
        for b in mine:
            latest[b.symbol] = max(latest.get(b.symbol, b.bar_time), b.bar_time)
        deferred = [d for k, d in self.deferred.items() if k[1] == interval]
        return Snapshot(
            clock,
            times,
            rows,
            latest,
            deferred,
            [self.pairs[k] for k in sorted(self.pairs)],
            [self.trackers[k] for k in sorted(self.trackers)],
        )

    async def apply(self, interval: str, fx: Effects) -> None:
        for b in [*fx.stored_bars, *(d.bar for d in fx.deferred_applied)]:
            key = (interval, b.symbol, b.bar_time)
            old = self.bars.get(key)
            if old is None or old.revision <= b.revision:
                self.bars[key] = b
        for d in fx.deferred_added:
            self.deferred.setdefault(self._dkey(interval, d), d)
        for d in fx.deferred_applied:
            self.deferred.pop(self._dkey(interval, d), None)
        for seq, t in fx.completed:
            self.times[(interval, seq)] = t
        if fx.clock is not None:
            self.clock[interval] = ClockRow(*fx.clock)
        for test in fx.tests:
            row = {**test.payload.model_dump(mode="json"), "passed": test.passed}
            self.tests.setdefault((test.pair_id, test.screen_id), {**row, "_as_of": test.as_of})
        self.pairs.update(fx.pairs)
        for pid in fx.trackers_removed:
            self.trackers.pop(pid, None)
        self.trackers.update(fx.trackers)
        for p in fx.spreads:
            self.spreads.setdefault((p.pair_id, p.bar_time), p)
        for sid, as_of, why in fx.screens:
            if sid in self.requests:
                r = self.requests[sid]
                self.requests[sid] = ScreenRequest(sid, r.requested_at, as_of, "done", why)

    @staticmethod
    def _dkey(interval: str, d: DeferredBar) -> tuple[str, str, datetime, int, datetime]:
        return (d.bar.symbol, interval, d.bar.bar_time, d.bar.revision, d.after)

    async def pending_requests(self, interval: str) -> list[ScreenRequest]:
        reqs = [
            r for r in self.requests.values()
            if r.status == "pending" and self.request_intervals[r.request_id] == interval
        ]  # fmt: skip
        return sorted(reqs, key=lambda r: (r.requested_at, r.request_id))

    async def add_screen_request(
        self, interval: str, request_id: uuid.UUID, requested_at: datetime
    ) -> ScreenRequest:
        clock = await self.lock_clock(interval)
        req = ScreenRequest(request_id, requested_at, clock.last_complete, "pending", None)
        self.requests[request_id] = req
        self.request_intervals[request_id] = interval
        return req

    async def screen_request(self, request_id: uuid.UUID) -> ScreenRequest | None:
        return self.requests.get(request_id)

    async def list_pairs(self, state: str | None) -> list[PairRecord]:
        return [p for _, p in sorted(self.pairs.items()) if state is None or p.state == state]

    async def pair_tests(self, pair_id: str, limit: int) -> list[dict[str, Any]]:
        rows = [
            (r["_as_of"], str(sid), r) for (pid, sid), r in self.tests.items() if pid == pair_id
        ]
        rows.sort(key=lambda x: (-x[0].timestamp(), x[1]))
        return [
            {**{k: v for k, v in r.items() if k != "_as_of"}, "screen_id": sid}
            for _, sid, r in rows[:limit]
        ]

    async def closes(
        self, interval: str, symbols: list[str], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        out: dict[str, list[tuple[datetime, float]]] = {s: [] for s in symbols}
        for (iv, s, t), b in sorted(self.bars.items(), key=lambda kv: kv[0][2]):
            if iv == interval and s in out and start <= t <= end:
                out[s].append((t, b.close))
        return out

    async def known_symbols(self, interval: str, symbols: list[str]) -> set[str]:
        return {s for (iv, s, _) in self.bars if iv == interval and s in symbols}
