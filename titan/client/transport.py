"""HTTP to the services: address resolution at each call, one pooled httpx client, errors
mapped to `titan.client.errors`. Lives on one event loop (the caller's, or the sync
client's loop thread)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from shared.runtime.api_token import resolve_api_token
from shared.runtime.endpoints import (
    lookup_endpoint,
    resolve_kafka_bootstrap,
    resolve_topic_prefix,
    titan_home,
)
from titan.client.errors import ServiceUnavailable, TitanTimeout, detail_message, error_for_status

SERVICES = ("market_data", "pairs", "regime", "signals", "backtest")
START_HINT = "start it with `titan up` (or `titan demo --keep-running`)"


@dataclass
class Addresses:
    """Where the services are: explicit URLs win, then TITAN_<SERVICE>_URL, then the local
    run registry under `home` (TITAN_HOME by default). Resolved at each call, so a service
    restarted on a new port is found again."""

    urls: Mapping[str, str] = field(default_factory=dict)
    home: Path | None = None
    kafka_bootstrap: str | None = None
    topic_prefix: str | None = None
    api_token: SecretStr | None = None

    def url(self, service: str) -> str:
        explicit = self.urls.get(service)
        url = explicit.rstrip("/") if explicit else lookup_endpoint(service, self.home)
        if url is None:
            raise ServiceUnavailable(
                f"{service} is not running: no TITAN_{service.upper()}_URL and no live entry "
                f"in the run registry; {START_HINT}",
                service=service,
            )
        return url

    def token(self) -> SecretStr | None:
        """The API token: explicit, then TITAN_API_TOKEN, then the local one under `home`
        (which `titan up` / `demo` / `infra up` made). Read at each call, like the URLs."""
        if self.api_token is not None:
            return self.api_token
        return resolve_api_token(self.home or titan_home())

    def bootstrap(self) -> str:
        found = self.kafka_bootstrap or resolve_kafka_bootstrap(self.home)
        if found is None:
            raise ServiceUnavailable(
                f"no Kafka broker: set TITAN_KAFKA_BOOTSTRAP or {START_HINT}", service="kafka"
            )
        return found

    def prefix(self) -> str:
        return (
            self.topic_prefix if self.topic_prefix is not None else resolve_topic_prefix(self.home)
        )


class Transport:
    def __init__(self, addresses: Addresses, timeout: float) -> None:
        self.addresses = addresses
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        return self._http

    async def request(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpx.Response:
        url = self.addresses.url(service) + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        token = self.addresses.token()
        # Sent on reads too: a deployment may close them (TITAN_API_TOKEN_READS).
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else None
        try:
            response = await self._client().request(
                method, url, params=query, json=json, headers=headers,
                timeout=timeout or self.timeout,
            )  # fmt: skip
        except httpx.TimeoutException as exc:
            raise TitanTimeout(
                f"{service}: {method} {path} got no answer within {timeout or self.timeout} s",
                service=service,
            ) from exc
        except httpx.TransportError as exc:
            raise ServiceUnavailable(
                f"{service} at {url} unreachable: {exc}; {START_HINT}", service=service
            ) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            message = detail_message(body, response.text[:500] or response.reason_phrase)
            raise error_for_status(service, response.status_code, message)
        return response

    async def get_json(
        self, service: str, path: str, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = (await self.request(service, "GET", path, params=params)).json()
        return body

    async def post_json(self, service: str, path: str, body: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = (await self.request(service, "POST", path, json=body)).json()
        return out

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
