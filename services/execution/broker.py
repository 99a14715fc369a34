"""The broker port and its adapter for Alpaca's (paper-trading) orders API, over httpx.

Every call returns what the broker answered, or raises BrokerUnreachable when no answer came
(connection refused, timeout): then the request may or may not have had its effect, which
the placement loop settles by asking for the order by client order id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from services.execution.domain import (
    BrokerOrder,
    OrderIntent,
    Outcome,
    Transient,
    classify_submission,
    error_message,
    order_request,
)


class BrokerUnreachable(ConnectionError):
    """No answer from the broker (the request's effect is unknown)."""


class BrokerError(RuntimeError):
    """The broker answered a query with an error that waiting may cure (5xx, 429, 401)."""


@dataclass(frozen=True)
class BrokerCredentials:
    key_id: str
    secret_key: str


class Broker:
    """What the adapter needs of a broker; AlpacaBroker is the real one."""

    async def submit(self, intent: OrderIntent) -> Outcome:
        raise NotImplementedError

    async def by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        """The broker's order for this client order id, None when it has none."""
        raise NotImplementedError

    async def order(self, broker_order_id: str) -> BrokerOrder | None:
        raise NotImplementedError

    async def orders(self, status: str = "all", limit: int = 500) -> list[BrokerOrder]:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text


class AlpacaBroker(Broker):
    def __init__(self, base_url: str, credentials: BrokerCredentials, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "APCA-API-KEY-ID": credentials.key_id,
                "APCA-API-SECRET-KEY": credentials.secret_key,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(timeout_s),
        )

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused and reset connections
            raise BrokerUnreachable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc

    async def submit(self, intent: OrderIntent) -> Outcome:
        try:
            response = await self._call("POST", "/v2/orders", json=order_request(intent))
        except BrokerUnreachable as exc:
            return Transient(str(exc))
        return classify_submission(
            response.status_code, _body(response), response.headers.get("Retry-After")
        )

    async def _get_order(
        self, path: str, params: dict[str, str] | None = None
    ) -> BrokerOrder | None:
        response = await self._call("GET", path, params=params)
        if response.status_code == 404:
            return None
        _raise_for_error(response)
        return BrokerOrder.from_json(_body(response))

    async def by_client_order_id(self, client_order_id: str) -> BrokerOrder | None:
        return await self._get_order(
            "/v2/orders:by_client_order_id", {"client_order_id": client_order_id}
        )

    async def order(self, broker_order_id: str) -> BrokerOrder | None:
        return await self._get_order(f"/v2/orders/{broker_order_id}")

    async def orders(self, status: str = "all", limit: int = 500) -> list[BrokerOrder]:
        response = await self._call(
            "GET", "/v2/orders", params={"status": status, "limit": str(limit), "direction": "asc"}
        )
        _raise_for_error(response)
        body = _body(response)
        if not isinstance(body, list):
            raise BrokerError(f"GET /v2/orders answered {str(body)[:200]}, not a list")
        return [BrokerOrder.from_json(item) for item in body]

    async def close(self) -> None:
        await self._client.aclose()


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    code, message = error_message(_body(response))
    raise BrokerError(
        f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}"
        + (f" code {code}" if code is not None else "")
        + f": {message}"
    )
