"""titan.client sends the deployment's bearer token with no extra step: explicit, else
TITAN_API_TOKEN, else the local token under TITAN_HOME; against a real uvicorn serving an
app built as every service's is (build_app with BearerAuth)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import APIRouter
from pydantic import SecretStr

from shared.clients.market_data import HistoryClient, HistoryUnavailable
from shared.runtime.api_token import ensure_local_api_token
from shared.runtime.auth import BearerAuth
from shared.runtime.http import HttpServer, build_app
from shared.runtime.metrics import RuntimeMetrics
from titan.client import AsyncTitan, Unauthorized
from titan.client.transport import Addresses, Transport

DEPLOYMENT_TOKEN = "deployment-token-from-a-secret"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in list(os.environ):
        if var.startswith("TITAN_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("TITAN_HOME", str(tmp_path))
    return tmp_path


async def _ready() -> dict[str, bool]:
    return {"store": True}


async def _serve(token: SecretStr, protect_reads: bool) -> AsyncIterator[str]:
    router = APIRouter()

    @router.post("/screen", status_code=202)
    async def screen() -> dict[str, str]:
        return {"status": "accepted"}

    @router.get("/pairs")
    async def pairs() -> dict[str, int]:
        return {"count": 0}

    @router.get("/symbols")
    async def symbols() -> dict[str, list[str]]:
        return {"symbols": ["KO", "PEP"]}

    auth = BearerAuth(token, protect_reads=protect_reads)
    app = build_app("pairs", RuntimeMetrics("client-token-test"), _ready, [router], auth)
    server = HttpServer(app, "127.0.0.1", 0)
    port = await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop()


@pytest.fixture
async def local_service(home: Path) -> AsyncIterator[str]:
    """A service on the local token, as `titan up` starts it (TITAN_API_TOKEN unset)."""
    async for url in _serve(ensure_local_api_token(home), protect_reads=True):
        yield url


@pytest.fixture
async def deployed_service(home: Path) -> AsyncIterator[str]:
    async for url in _serve(SecretStr(DEPLOYMENT_TOKEN), protect_reads=False):
        yield url


async def _post(addresses: Addresses) -> dict[str, object]:
    transport = Transport(addresses, timeout=10)
    try:
        return await transport.post_json("pairs", "/screen")
    finally:
        await transport.aclose()


async def test_the_local_token_under_titan_home_is_sent_with_no_extra_step(
    local_service: str,
) -> None:
    assert await _post(Addresses({"pairs": local_service})) == {"status": "accepted"}
    # Reads too, when the deployment closes them.
    transport = Transport(Addresses({"pairs": local_service}), timeout=10)
    assert await transport.get_json("pairs", "/pairs") == {"count": 0}
    await transport.aclose()


async def test_an_explicit_home_is_where_the_token_is_read(
    local_service: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TITAN_HOME", str(home / "elsewhere"))
    with pytest.raises(Unauthorized):
        await _post(Addresses({"pairs": local_service}))
    assert await _post(Addresses({"pairs": local_service}, home=home)) == {"status": "accepted"}


async def test_titan_api_token_wins_over_the_local_file(
    deployed_service: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_local_api_token(home)  # another token: must not be the one sent
    with pytest.raises(Unauthorized, match="not this deployment's"):
        await _post(Addresses({"pairs": deployed_service}))
    monkeypatch.setenv("TITAN_API_TOKEN", DEPLOYMENT_TOKEN)
    assert await _post(Addresses({"pairs": deployed_service})) == {"status": "accepted"}


async def test_an_explicit_token_wins_and_no_token_is_a_typed_401(deployed_service: str) -> None:
    async with AsyncTitan(urls={"pairs": deployed_service}) as titan:
        with pytest.raises(Unauthorized, match="needs a token") as refused:
            await titan._transport.post_json("pairs", "/screen")
    assert refused.value.status == 401 and refused.value.service == "pairs"
    async with AsyncTitan(urls={"pairs": deployed_service}, api_token=DEPLOYMENT_TOKEN) as titan:
        assert await titan._transport.post_json("pairs", "/screen") == {"status": "accepted"}
        assert titan.addresses.token() == SecretStr(DEPLOYMENT_TOKEN)


async def test_service_to_service_history_reads_carry_the_token(
    local_service: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads closed: backtest's history client must still get through, with the local token...
    assert await HistoryClient(local_service).symbols() == ["KO", "PEP"]
    # ... or the one its settings hold, which wins over the environment's.
    monkeypatch.setenv("TITAN_API_TOKEN", "some-other-deployment-token")
    with pytest.raises(HistoryUnavailable, match="401"):
        await HistoryClient(local_service).symbols()
    token = ensure_local_api_token(home)
    assert await HistoryClient(local_service, api_token=token).symbols() == ["KO", "PEP"]
