"""The site's way to the TITAN services.

Sync views share ONE `Titan` per process: it is thread-safe and runs one event-loop thread,
so one per request would start (and stop) a thread per request. Async views open an
`AsyncTitan` on the loop serving the request: a client's connections belong to the loop
that opened them, and Django may serve async views on more than one loop.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

from django.conf import settings

from titan.client import AsyncTitan, Titan

_lock = threading.Lock()
_shared: Titan | None = None


def _options() -> dict[str, Any]:
    return {**settings.TITAN_CLIENT, "timeout": settings.TITAN_CLIENT_TIMEOUT_S}


def titan() -> Titan:
    """The process's shared sync client, opened on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Titan(**_options())
            atexit.register(close_titan)
        return _shared


def close_titan() -> None:
    """Close the shared client (at exit, or in tests between sites); the next use reopens."""
    global _shared
    with _lock:
        client, _shared = _shared, None
    if client is not None:
        client.close()


def async_titan() -> AsyncTitan:
    """A new async client for this request's loop; use it as `async with async_titan() as t`."""
    return AsyncTitan(**_options())
