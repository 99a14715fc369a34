"""Where a running service's HTTP API is: TITAN_<SERVICE>_URL, else the local run registry.

A service started against the local infrastructure writes $TITAN_HOME/run/<service>.json
with its URL and pid, so CLI commands (`titan pairs test`, `titan backtest`) find it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def titan_home() -> Path:
    return Path(os.environ.get("TITAN_HOME", str(Path.home() / ".titan")))


def _run_file(service: str) -> Path:
    return titan_home() / "run" / f"{service}.json"


def register_endpoint(service: str, url: str) -> None:
    path = _run_file(service)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    tmp.replace(path)


def unregister_endpoint(service: str) -> None:
    path = _run_file(service)
    try:
        data = json.loads(path.read_text())
        if data.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def lookup_endpoint(service: str) -> str | None:
    env = os.environ.get(f"TITAN_{service.upper()}_URL")
    if env:
        return env.rstrip("/")
    try:
        data = json.loads(_run_file(service).read_text())
    except (OSError, ValueError):
        return None
    pid = data.get("pid")
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    url = data.get("url")
    return str(url) if url else None
