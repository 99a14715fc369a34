"""Swagger UI and ReDoc served by the service itself, so /docs works in an air-gapped cluster.

The assets come from npm (deploy/api-docs, installed by deploy/setup.sh): swagger-ui-dist and
redoc's standalone bundle are 1.8 MB and 0.9 MB of minified JavaScript, too large to vendor into
the repository, and npm pins them with a lockfile like the PGlite packages. A deployment that
ships the files elsewhere points TITAN_API_DOCS_ASSETS at its node_modules folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_ENV = "TITAN_API_DOCS_ASSETS"
DEFAULT_ASSETS = Path(__file__).resolve().parents[2] / "deploy" / "api-docs" / "node_modules"
SWAGGER_PREFIX = "/api-docs/swagger-ui"
REDOC_PREFIX = "/api-docs/redoc"


def assets_dir() -> Path:
    return Path(os.environ.get(ASSETS_ENV) or DEFAULT_ASSETS)


def _missing_page(title: str, root: Path) -> HTMLResponse:
    # 503, not 500: the service works, only the optional documentation assets are absent.
    return HTMLResponse(
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<p>API documentation assets are not installed in {root}: run deploy/setup.sh "
        f"or set {ASSETS_ENV}. The schema is at <a href='/openapi.json'>/openapi.json</a>.</p>"
        "</body></html>",
        status_code=503,
    )


def mount_api_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc (ReDoc) from local files; the app needs docs_url=None."""
    root = assets_dir()
    swagger = root / "swagger-ui-dist"
    redoc = root / "redoc" / "bundles"
    have_swagger = (swagger / "swagger-ui-bundle.js").is_file()
    have_redoc = (redoc / "redoc.standalone.js").is_file()
    if have_swagger:
        app.mount(SWAGGER_PREFIX, StaticFiles(directory=swagger), name="swagger-ui")
    if have_redoc:
        app.mount(REDOC_PREFIX, StaticFiles(directory=redoc), name="redoc")
    title = app.title
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        if not have_swagger:
            return _missing_page(f"{title} - Swagger UI", root)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} - Swagger UI",
            swagger_js_url=f"{SWAGGER_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
            # The default validator badge calls validator.swagger.io.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc_ui() -> HTMLResponse:
        if not have_redoc:
            return _missing_page(f"{title} - ReDoc", root)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} - ReDoc",
            redoc_js_url=f"{REDOC_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{SWAGGER_PREFIX}/favicon-32x32.png",
            with_google_fonts=False,
        )
