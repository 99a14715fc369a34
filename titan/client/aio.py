"""`AsyncTitan`: the one implementation of the client, for code that runs an event loop
(async Django views, FastAPI, notebooks with top-level await). `Titan` wraps it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from pydantic import SecretStr

from titan.client.backtest import Backtest, Params
from titan.client.errors import TitanError
from titan.client.market_data import MarketData
from titan.client.pairs import Pairs
from titan.client.regime import Regime
from titan.client.signals import Signals
from titan.client.transport import SERVICES, Addresses, Transport

# 30 s per HTTP request: every query endpoint answers in well under a second on the demo
# data; waiting longer than this means the service is stuck, not busy.
DEFAULT_TIMEOUT_S = 30.0


class AsyncTitan:
    """All of TITAN's services behind one object.

    Addresses: `urls` (service -> base URL) win, then TITAN_<SERVICE>_URL, then the local
    run registry under `home` (TITAN_HOME), which `titan up` and `titan demo --keep-running`
    fill. `api_token` is sent as the bearer token; by default TITAN_API_TOKEN, else the
    local token under `home` that `titan up` made. `timeout` bounds each HTTP request; long operations take their own `timeout`.
    """

    def __init__(
        self,
        *,
        urls: Mapping[str, str] | None = None,
        home: str | Path | None = None,
        kafka_bootstrap: str | None = None,
        topic_prefix: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        api_token: str | None = None,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        unknown = sorted(set(urls or {}) - set(SERVICES))
        if unknown:
            raise ValueError(f"unknown services {unknown}; known: {list(SERVICES)}")
        self.addresses = Addresses(dict(urls or {}), Path(home) if home else None,
                                   kafka_bootstrap, topic_prefix,
                                   SecretStr(api_token) if api_token else None)  # fmt: skip
        self._transport = Transport(self.addresses, timeout)
        self.market_data = MarketData(self._transport)
        self.pairs = Pairs(self._transport)
        self.regime = Regime(self._transport)
        self.signals = Signals(self._transport)
        self.backtest = Backtest(self._transport)
        self.params = Params(self._transport, self.backtest)

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    async def health(self) -> dict[str, bool]:
        """Each service: does it answer /readyz now."""

        async def ready(service: str) -> bool:
            try:
                await self._transport.request(service, "GET", "/readyz", timeout=5.0)
            except TitanError:
                return False
            return True

        answers = await asyncio.gather(*(ready(s) for s in SERVICES))
        return dict(zip(SERVICES, answers, strict=True))

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> AsyncTitan:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
