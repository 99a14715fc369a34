"""Request bodies are bounded before any handler reads them: 413, never a stall or a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Request
from pydantic import SecretStr

from shared.runtime.auth import BearerAuth
from shared.runtime.http import build_app
from shared.runtime.metrics import RuntimeMetrics

TOKEN = "body-limit-test-token-0123456789"
LIMIT = 2048
AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def _ready() -> dict[str, bool]:
    return {"store": True}


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    router = APIRouter()

    @router.post("/backtests")
    async def backtests(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    auth = BearerAuth(SecretStr(TOKEN))
    app = build_app("limit-test", RuntimeMetrics("limit-test"), _ready, [router], auth,
                    max_body_bytes=LIMIT)  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://titan") as client:
        yield client


async def test_a_body_within_the_limit_reaches_the_handler(api: httpx.AsyncClient) -> None:
    r = await api.post("/backtests", content=b"x" * LIMIT, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"bytes": LIMIT}


async def test_a_declared_oversized_body_is_413_unread(api: httpx.AsyncClient) -> None:
    r = await api.post("/backtests", content=b"x" * (LIMIT + 1), headers=AUTH)
    assert r.status_code == 413
    assert f"request body over {LIMIT} bytes" in r.json()["detail"]


async def test_a_chunked_body_growing_past_the_limit_is_413(api: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"y" * 1000

    r = await api.post("/backtests", content=chunks(), headers=AUTH)
    assert r.status_code == 413


async def test_a_content_length_that_is_no_number_is_400(api: httpx.AsyncClient) -> None:
    r = await api.post("/backtests", content=b"{}", headers={**AUTH, "Content-Length": "ten"})
    assert r.status_code == 400
