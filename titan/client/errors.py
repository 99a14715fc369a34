"""Typed errors of `titan.client`: each carries the service, the HTTP status and the
service's own message, so a Django view can show what went wrong and map it to a status."""

from __future__ import annotations

from typing import Any


class TitanError(Exception):
    """Anything the client raises on purpose."""

    def __init__(self, message: str, *, service: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status


class ServiceUnavailable(TitanError):
    """No address for the service, it cannot be reached, or it answered 503."""


class InvalidRequest(TitanError, ValueError):
    """The service refused the input (400/422); the message says which part and why."""


class Unauthorized(TitanError, PermissionError):
    """The service wants this deployment's API token (401): none was found, or another one."""


class NotFound(TitanError, LookupError):
    """The service does not know the thing asked for (404)."""


class Conflict(TitanError):
    """The thing exists but is not in a state that allows this yet (409)."""


class ServiceError(TitanError):
    """The service failed (5xx)."""


class TitanTimeout(TitanError, TimeoutError):
    """An explicit timeout passed before the answer came."""


class BacktestFailed(TitanError):
    """A backtest or walk-forward job ended failed; `reason` is the service's."""

    def __init__(self, request_id: str, reason: str) -> None:
        super().__init__(f"backtest {request_id} failed: {reason}", service="backtest")
        self.request_id = request_id
        self.reason = reason


def detail_message(body: Any, fallback: str) -> str:
    """The human part of a FastAPI error body: `detail` as a string, or its validation list."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return fallback


def error_for_status(service: str, status: int, message: str) -> TitanError:
    kind: type[TitanError]
    if status in (400, 422):
        kind = InvalidRequest
    elif status == 401:
        kind = Unauthorized
    elif status == 404:
        kind = NotFound
    elif status == 409:
        kind = Conflict
    elif status == 503:
        kind = ServiceUnavailable
    elif status >= 500:
        kind = ServiceError
    else:
        kind = TitanError
    return kind(f"{service}: {message}", service=service, status=status)
