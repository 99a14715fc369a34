"""`titan.pairs`: pair records by lifecycle state, ad-hoc tests, stability, screens."""

from __future__ import annotations

import asyncio
import time

import pandas as pd

from titan.client.errors import TitanTimeout
from titan.client.results import (
    PairDetail,
    PairRecord,
    PairStability,
    PairTest,
    ScreenRequest,
    When,
    frame,
    iso,
)
from titan.client.transport import Transport

PAIR_COLUMNS = ["pair_id", "a", "b", "state", "since", "consecutive_passes", "strikes",
                "degraded_screens", "screens"]  # fmt: skip


class Pairs:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def list(self, state: str | None = None) -> pd.DataFrame:
        """Pairs (one row each) in `state` (candidate, active, degraded, retired) or all."""
        data = await self._t.get_json("pairs", "/pairs", {"state": state})
        return frame(data["pairs"], PAIR_COLUMNS, times=("since",))

    async def get(self, pair_id: str) -> PairDetail:
        data = await self._t.get_json("pairs", f"/pairs/{pair_id}")
        pair = PairRecord.from_json(data["pair"]) if data.get("pair") else None
        return PairDetail(pair, pd.DataFrame(data.get("tests") or []))

    async def test(self, a: str, b: str, start: When, end: When) -> PairTest:
        """Engle-Granger test of `a` on `b` over the stored closes, both ends inclusive."""
        params = {"a": a, "b": b, "start": iso("start", start), "end": iso("end", end)}
        return PairTest.from_json(await self._t.get_json("pairs", "/pairs/test", params))

    async def stability(
        self, a: str, b: str, start: When, end: When, n_windows: int = 4, alpha: float = 0.05
    ) -> PairStability:
        params = {"a": a, "b": b, "start": iso("start", start), "end": iso("end", end),
                  "n_windows": n_windows, "alpha": alpha}  # fmt: skip
        d = await self._t.get_json("pairs", "/pairs/stability", params)
        windows = frame(d["windows"], ["start", "end", "pvalue"], times=("start", "end"))
        return PairStability(d["pair_id"], int(d["n_windows"]), float(d["alpha"]),
                             float(d["pass_fraction"]), float(d["pvalue_min"]),
                             float(d["pvalue_max"]), windows)  # fmt: skip

    async def screen(
        self,
        *,
        wait: bool = True,
        timeout: float = 600.0,  # noqa: ASYNC109
        poll_interval: float = 0.5,
    ) -> ScreenRequest:
        """Ask for a rescreen as of the latest complete bar; with `wait`, until it is done."""
        request = ScreenRequest.from_json(await self._t.post_json("pairs", "/screen"))
        deadline = time.monotonic() + timeout
        while wait and request.status != "done":
            if time.monotonic() > deadline:
                raise TitanTimeout(
                    f"pairs: screen {request.request_id} still {request.status} after {timeout} s",
                    service="pairs",
                )
            await asyncio.sleep(poll_interval)
            request = await self.screen_status(request.request_id)
        return request

    async def screen_status(self, request_id: str) -> ScreenRequest:
        return ScreenRequest.from_json(await self._t.get_json("pairs", f"/screen/{request_id}"))
