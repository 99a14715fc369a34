"""A small client of the market_data history API that returns pandas DataFrames."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pandas as pd
from pydantic import SecretStr

from shared.runtime.api_token import resolve_api_token
from shared.runtime.endpoints import lookup_endpoint, titan_home


class HistoryUnavailable(RuntimeError):
    """The market_data service could not be reached or refused the request."""


class HistoryClient:
    def __init__(
        self,
        base_url: str | None = None,
        timeout_s: float = 30.0,
        api_token: SecretStr | None = None,
    ) -> None:
        url = base_url or lookup_endpoint("market_data")
        if url is None:
            raise HistoryUnavailable(
                "market_data is not running: start it (titan run market-data) "
                "or set TITAN_MARKET_DATA_URL"
            )
        self.base_url = url.rstrip("/")
        # 30 s: a page of 10,000 bars is served in well under a second; more means trouble.
        self.timeout_s = timeout_s
        # Reads may be closed (TITAN_API_TOKEN_READS): the deployment's token, as titan.client.
        token = api_token or resolve_api_token(titan_home())
        self._headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    async def symbols(self) -> list[str]:
        data = await self._get("/symbols", {})
        return [str(s) for s in data["symbols"]]

    async def bars(
        self,
        symbols: list[str],
        interval: str = "1d",
        start: datetime | None = None,
        end: datetime | None = None,
        page_size: int = 10_000,
    ) -> pd.DataFrame:
        """All closed bars (long format), following cursors page by page."""
        params: dict[str, Any] = {
            "symbols": ",".join(symbols),
            "interval": interval,
            "limit": page_size,
        }
        if start is not None:
            params["start"] = start.isoformat()
        if end is not None:
            params["end"] = end.isoformat()
        rows: list[dict[str, Any]] = []
        while True:
            page = await self._get("/bars", params)
            rows.extend(page["bars"])
            if not page.get("next_cursor"):
                break
            params["cursor"] = page["next_cursor"]
        frame = pd.DataFrame(rows)
        if frame.empty:
            return frame
        frame["start"] = pd.to_datetime(frame["start"], utc=True)
        frame["end"] = pd.to_datetime(frame["end"], utc=True)
        return frame

    async def closes(
        self,
        symbols: list[str],
        interval: str = "1d",
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """Wide closes: index = bar start, one column per symbol (NaN where a bar is missing)."""
        frame = await self.bars(symbols, interval, start, end)
        if frame.empty:
            return pd.DataFrame(columns=symbols)
        wide = frame.pivot(index="start", columns="symbol", values="close").sort_index()
        return wide.reindex(columns=[s for s in symbols if s in wide.columns])

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s, headers=self._headers) as client:
                response = await client.get(self.base_url + path, params=params)
        except httpx.HTTPError as exc:
            raise HistoryUnavailable(f"market_data at {self.base_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise HistoryUnavailable(f"market_data {path}: {response.status_code} {response.text}")
        data: dict[str, Any] = response.json()
        return data
