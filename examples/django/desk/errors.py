"""What a page shows when a service says no: the service's own message, with the HTTP
status that fits (bad input is the caller's 400, a service that is down a 503, never a 500)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from titan.client.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    ServiceUnavailable,
    TitanError,
    TitanTimeout,
)

# Raised when the Celery broker (sending) or its Redis result backend (reading) is down.
BROKER_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError)
View = Callable[..., HttpResponse]
AsyncView = Callable[..., Awaitable[HttpResponse]]

STATUS_BY_ERROR: tuple[tuple[type[TitanError], int], ...] = (
    (InvalidRequest, 400),
    (NotFound, 404),
    (Conflict, 409),
    (ServiceUnavailable, 503),
    (TitanTimeout, 504),
)


def status_for(error: TitanError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 502  # the service failed: a bad gateway from the site's point of view


def error_page(request: HttpRequest, error: TitanError) -> HttpResponse:
    status = status_for(error)
    context: dict[str, Any] = {"message": error.message, "service": error.service, "status": status}
    return render(request, "desk/error.html", context, status=status)


def titan_errors(view: View) -> View:
    """Turn the client's typed errors into an error page for a sync view."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except TitanError as error:
            return error_page(request, error)

    return wrapped


def async_titan_errors(view: AsyncView) -> AsyncView:
    """The same for an async view (Django sees a coroutine function and runs it on a loop)."""

    @functools.wraps(view)
    async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except TitanError as error:
            return error_page(request, error)

    return wrapped


def broker_errors(view: View) -> View:
    """A page that queues or reads Celery tasks: a broker that is down is a 503, not a 500."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BROKER_ERRORS as error:
            return _queue_down(request, error)
        except RuntimeError as error:
            # The Redis result backend wraps the connection error once its retries ran out.
            if not isinstance(error.__cause__, BROKER_ERRORS):
                raise
            return _queue_down(request, error.__cause__)

    return wrapped


def _queue_down(request: HttpRequest, error: BaseException) -> HttpResponse:
    context = {"message": f"task queue unavailable: {error}", "status": 503}
    return render(request, "desk/error.html", context, status=503)
