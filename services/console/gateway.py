"""The console's view of the other services: their HTTP APIs through `titan.client`'s transport
(URLs resolved at each call by shared/runtime/endpoints.py, the API token sent on reads) and
the signals topic through the client's subscriber. Errors keep their meaning: an upstream 404
stays a 404, an unreachable service is a 503, never a 500 of the console's own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import HTTPException

from core.strategy import StrategyParams
from services.console import views
from titan.client.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TitanError,
    TitanTimeout,
    Unauthorized,
)
from titan.client.market_data import MarketData
from titan.client.signals import StreamPosition, Subscription
from titan.client.transport import Addresses, Transport

UPSTREAM_TIMEOUT_S = 15.0
RECENT_SIGNALS = 50
REGIME_HISTORY = 10_000  # the regime API's largest page: 33 years of daily bars fit


def http_error(exc: TitanError) -> HTTPException:
    """The status the console answers for an upstream failure."""
    if isinstance(exc, NotFound):
        return HTTPException(404, exc.message)
    if isinstance(exc, Conflict):
        return HTTPException(409, exc.message)
    if isinstance(exc, InvalidRequest):
        return HTTPException(400, exc.message)
    if isinstance(exc, ServiceUnavailable | TitanTimeout):
        return HTTPException(503, exc.message)
    if isinstance(exc, Unauthorized):
        return HTTPException(502, f"{exc.service} refused the console's token: {exc.message}")
    return HTTPException(502, f"{exc.service}: {exc.message}")


class Upstream:
    """Read-only calls to the services, each returning the JSON the console's pages draw."""

    def __init__(self, home: Path | None = None, urls: dict[str, str] | None = None) -> None:
        self.addresses = Addresses(urls=urls or {}, home=home)
        self.transport = Transport(self.addresses, UPSTREAM_TIMEOUT_S)
        # Set on SIGTERM: open signal streams end, else the HTTP server waits on them.
        self.closing = asyncio.Event()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def _get(self, service: str, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return await self.transport.get_json(service, path, params)
        except TitanError as exc:
            raise http_error(exc) from None

    async def pair_exists(self, pair_id: str) -> None:
        """Raises the 404 of the pairs service for a pair it never tested."""
        await self._get("pairs", f"/pairs/{pair_id}")

    async def pairs(self) -> list[dict[str, Any]]:
        data = await self._get("pairs", "/pairs", {"latest_test": "true"})
        return views.pair_rows(data["pairs"])

    async def pair(self, pair_id: str, max_points: int) -> dict[str, Any]:
        """Everything the pair page draws: the pair and its latest test, the legs' closes
        over the whole history, the spread and z-score while the pair was tracked (both
        downsampled), thresholds, signal markers, regime lines."""
        a, b = pair_id.split("~")
        detail, spreads, signals, params, regime, closes = await asyncio.gather(
            self._get("pairs", f"/pairs/{pair_id}"),
            self._get("pairs", f"/pairs/{pair_id}/spreads"),
            self._get("signals", "/signals", {"pair_id": pair_id, "limit": 10_000}),
            self._get("signals", "/signals/params"),
            self._regime_history(pair_id),
            self._closes(a, b),
        )
        if not regime["lines"]:  # no model of the pair's own yet: the market's regime
            regime = await self._regime_history("market")
        marked = sorted({str(s["bar_time"]) for s in signals["signals"]})
        spread = views.downsample_columns(
            spreads, ("spread", "z_score"), max_points, keep_times=marked
        )
        legs = views.downsample_columns(closes, ("price_a", "price_b"), max_points)
        series = {
            **{k: views.line_points(legs["bar_time"], legs[k]) for k in ("price_a", "price_b")},
            **{k: views.line_points(spread["bar_time"], spread[k]) for k in ("spread", "z_score")},
        }
        return {
            "pair": detail["pair"],
            "latest_test": detail["tests"][0] if detail["tests"] else None,
            "points": {
                "stored": len(spreads["bar_time"]) + len(closes["bar_time"]),
                "drawn": len(spread["bar_time"]) + len(legs["bar_time"]),
            },
            "series": series,
            "thresholds": views.thresholds(pair_id, params["params"], default_params()),
            "markers": views.signal_markers(signals["signals"]),
            "signals": signals["signals"][-RECENT_SIGNALS:],
            "regime": regime,
        }

    async def _closes(self, a: str, b: str) -> dict[str, list[Any]]:
        """The legs' daily closes, every page of market_data's /bars followed."""
        try:
            wide = await MarketData(self.transport).closes([a, b])
        except TitanError as exc:
            raise http_error(exc) from None
        except KeyError:  # no bar of either symbol yet: nothing to pivot
            return {"bar_time": [], "price_a": [], "price_b": []}
        return {
            "bar_time": [t.isoformat() for t in wide.index],
            "price_a": wide[a].tolist(),
            "price_b": wide[b].tolist(),
        }

    async def _regime_history(self, scope: str) -> dict[str, Any]:
        try:
            data = await self.transport.get_json(
                "regime", f"/regimes/{scope}/history", {"limit": REGIME_HISTORY}
            )
        except NotFound:
            return {"scope": scope, "lines": []}  # no model for this scope yet
        except TitanError as exc:
            raise http_error(exc) from None
        return {"scope": scope, "lines": views.regime_lines(data["history"])}

    async def regimes(self) -> dict[str, Any]:
        current, market = await asyncio.gather(
            self._get("regime", "/regimes"), self._regime_history("market")
        )
        return {"current": current["regimes"], "market": market}

    async def recent_signals(self) -> dict[str, Any]:
        data = await self._get("signals", "/signals", {"limit": 10_000})
        return {"signals": data["signals"][-RECENT_SIGNALS:][::-1], "count": data["count"]}

    async def portfolio(self) -> dict[str, Any]:
        positions, pnl, risk = await asyncio.gather(
            self._get("portfolio", "/portfolio/positions"),
            self._get("portfolio", "/portfolio/pnl", {"limit": 10_000}),
            self._get("portfolio", "/portfolio/risk"),
        )
        return {"positions": positions, "pnl": views.pnl_view(pnl), "risk": risk}

    async def backtests(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._get("backtest", "/backtests", {"limit": 100})
        return data

    async def backtest_report(self, request_id: str) -> str:
        try:
            response = await self.transport.request(
                "backtest", "GET", f"/backtests/{request_id}/report"
            )
        except TitanError as exc:
            raise http_error(exc) from None
        return response.text

    def subscribe(self, position: StreamPosition | None = None) -> Subscription:
        """signals.v1 from `position` (a reconnecting browser's), else from now on (the topic
        prefix of this deployment, as the CLI's)."""
        start = "now" if position is None else position
        return Subscription(self.addresses.bootstrap(), self.addresses.prefix(), start, None)


def default_params() -> dict[str, Any]:
    """The strategy's defaults where no parameter set is published (the signal engine's own
    unless the deployment overrides TITAN_SIGNALS_*_Z, which the console cannot see)."""
    defaults = StrategyParams()
    return {"entry_z": defaults.entry_z, "exit_z": defaults.exit_z, "stop_z": defaults.stop_z}
