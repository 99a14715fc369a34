"""`titan.regime`: current regimes, probability history, the last fitted model."""

from __future__ import annotations

import pandas as pd

from titan.client.results import RegimeFit, When, frame, iso
from titan.client.transport import Transport

MAX_ROWS = 10_000  # the service's largest answer


class Regime:
    def __init__(self, transport: Transport) -> None:
        self._t = transport

    async def current(self) -> pd.DataFrame:
        """One row per scope (`market` and each pair): its latest regime and probabilities."""
        data = await self._t.get_json("regime", "/regimes")
        columns = ["scope", "kind", "bar_time", "regime", "regime_name", "label",
                   "probabilities", "model_version"]  # fmt: skip
        return frame(data["regimes"], columns, times=("bar_time",))

    async def history(
        self,
        scope: str = "market",
        start: When | None = None,
        end: When | None = None,
        limit: int = MAX_ROWS,
    ) -> pd.DataFrame:
        """Regime probabilities of `scope` by bar time (index), `start` inclusive, `end`
        exclusive: columns regime, label, model_version and p0..pK-1."""
        params = {"start": iso("start", start), "end": iso("end", end), "limit": limit}
        data = await self._t.get_json("regime", f"/regimes/{scope}/history", params)
        rows = data["history"]
        out = frame(rows, ["bar_time", "regime", "label", "model_version"], times=("bar_time",))
        width = max((len(r["probabilities"]) for r in rows), default=0)
        for k in range(width):
            out[f"p{k}"] = [r["probabilities"][k] if k < len(r["probabilities"]) else None
                            for r in rows]  # fmt: skip
        return out.set_index("bar_time")

    async def fit(self, scope: str = "market") -> RegimeFit:
        """The model last fitted for `scope` (version, window, log-likelihood, parameters)."""
        return RegimeFit.from_json(await self._t.get_json("regime", f"/regimes/{scope}/fit"))
