"""Bearer-token check of the services' HTTP APIs, one FastAPI dependency for every router.

Requests that change something (POST, PUT, PATCH, DELETE) need `Authorization: Bearer <token>`;
reads need it only when the deployment says so (TITAN_API_TOKEN_READS). The ops endpoints
(/healthz, /readyz, /metrics, /docs) are not behind it: probes and scrapers carry no token.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.routing import APIRoute
from pydantic import SecretStr

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOW_TO = (
    "send `Authorization: Bearer <token>` with this deployment's token "
    "(TITAN_API_TOKEN, or the file api-token under TITAN_HOME on a local install)"
)


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    # RFC 6750: a request with no credentials gets the bare challenge, a bad one its error.
    challenge = 'Bearer realm="titan"' + (f', error="{error}"' if error else "")
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": challenge})


class BearerAuth:
    """The dependency: raises 401 unless the request may pass. Never logs or echoes a token."""

    def __init__(self, token: SecretStr, *, protect_reads: bool = False) -> None:
        secret = token.get_secret_value()
        if not secret.strip():
            raise ValueError("the API token must not be empty")
        self._expected = secret.encode()
        self.protect_reads = protect_reads

    def needs_token(self, method: str) -> bool:
        return self.protect_reads or method.upper() not in READ_METHODS

    async def __call__(self, request: Request) -> None:
        if not self.needs_token(request.method):
            return
        header = request.headers.get("authorization")
        if header is None:
            raise _unauthorized(f"{request.method} {request.url.path} needs a token: {HOW_TO}")
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise _unauthorized(
                f"malformed Authorization header (expected `Bearer <token>`): {HOW_TO}",
                "invalid_request",
            )
        # Constant time, so the answer's timing tells nothing about how much of a guess matched.
        if not hmac.compare_digest(presented.strip().encode(), self._expected):
            raise _unauthorized(
                f"the bearer token is not this deployment's: {HOW_TO}", "invalid_token"
            )


SECURITY_SCHEME = "bearerAuth"


def declare_bearer_security(app: FastAPI, auth: BearerAuth, routers: Sequence[APIRouter]) -> None:
    """Declare the bearer scheme in the app's OpenAPI document, on the operations of `routers`
    that need a token, so that Swagger UI shows their lock and an Authorize button (the
    check itself is the `auth` dependency; a document cannot enforce anything)."""
    guarded = {
        (route.path, method.lower())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
        if auth.needs_token(method)
    }
    build_schema = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build_schema()
        components = schema.setdefault("components", {})
        components.setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": f"This deployment's API token: {HOW_TO}.",
        }
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in guarded:
                    operation["security"] = [{SECURITY_SCHEME: []}]
                    operation.setdefault("responses", {}).setdefault(
                        "401",
                        {"description": "No token, a malformed one, or not this deployment's"},
                    )
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
