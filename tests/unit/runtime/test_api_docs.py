"""/docs and /redoc load their assets from the service itself: no CDN, every asset a 200."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from shared.runtime.api_docs import ASSETS_ENV, DEFAULT_ASSETS
from shared.runtime.auth import BearerAuth
from shared.runtime.http import HttpServer, build_app
from shared.runtime.metrics import RuntimeMetrics

ASSET_REF = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


async def _ready() -> dict[str, bool]:
    return {"store": True}


async def _serve() -> AsyncIterator[httpx.AsyncClient]:
    # Reads behind the token too: the docs must stay open even then.
    auth = BearerAuth(SecretStr("docs-test-token-0123456789"), protect_reads=True)
    app = build_app("docs-test", RuntimeMetrics("docs-test"), _ready, [], auth)
    server = HttpServer(app, "127.0.0.1", 0)
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client
    finally:
        await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async for c in _serve():
        yield c


def _references(html: str) -> list[str]:
    return [a or b for a, b in ASSET_REF.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_and_every_asset_it_references_are_served_locally(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200, f"{DEFAULT_ASSETS} missing? run deploy/setup.sh"
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    refs = _references(html)
    assert "/openapi.json" in refs
    scripts = [r for r in refs if r.endswith(".js")]
    assert scripts, f"no script referenced by {page}"
    for ref in refs:
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    schema = (await client.get("/openapi.json")).json()
    assert "/healthz" in schema["paths"]


async def test_missing_assets_give_a_clear_503_not_a_blank_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(ASSETS_ENV, str(tmp_path))
    async for c in _serve():
        for page in ("/docs", "/redoc"):
            response = await c.get(page)
            assert response.status_code == 503
            assert "deploy/setup.sh" in response.text and str(tmp_path) in response.text
        assert (await c.get("/healthz")).status_code == 200
