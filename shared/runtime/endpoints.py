"""Where things are on this machine: one resolution for every command, service and client.

- A service's HTTP API: TITAN_<SERVICE>_URL, else the local run registry. A service started
  against the local infrastructure writes $TITAN_HOME/run/<service>.json with its URL and pid,
  so CLI commands and `titan.client` find it.
- The topic prefix: TITAN_TOPIC_PREFIX when set (even to ""), else the prefix of the last
  pipeline `titan demo` / `titan up` started under $TITAN_HOME (run/pipeline.json), else "".
  So `titan signals tail` after `titan demo` reads the demo's topics with no flag.
- The broker: TITAN_KAFKA_BOOTSTRAP, else the local infrastructure (`titan infra up`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PIPELINE_FILE = "pipeline.json"


def titan_home() -> Path:
    return Path(os.environ.get("TITAN_HOME") or Path.home() / ".titan").expanduser()


def run_dir(home: Path | None = None) -> Path:
    return (home or titan_home()) / "run"


def _run_file(service: str, home: Path | None = None) -> Path:
    return run_dir(home) / f"{service}.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def register_endpoint(service: str, url: str) -> None:
    _write_json(_run_file(service), {"url": url, "pid": os.getpid()})


def unregister_endpoint(service: str) -> None:
    path = _run_file(service)
    try:
        data = json.loads(path.read_text())
        if data.get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def pid_running(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


def registered_endpoint(service: str, home: Path | None = None) -> dict[str, Any] | None:
    """The run registry's entry of a service whose process is alive, else None."""
    try:
        data = json.loads(_run_file(service, home).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not data.get("url") or not pid_running(data.get("pid")):
        return None
    return data


def lookup_endpoint(service: str, home: Path | None = None) -> str | None:
    env = os.environ.get(f"TITAN_{service.upper()}_URL")
    if env:
        return env.rstrip("/")
    data = registered_endpoint(service, home)
    return None if data is None else str(data["url"]).rstrip("/")


def write_pipeline_state(state: dict[str, Any], home: Path | None = None) -> Path:
    """Record the topic prefix, database and processes of a locally started pipeline."""
    path = run_dir(home) / PIPELINE_FILE
    _write_json(path, state)
    return path


def read_pipeline_state(home: Path | None = None) -> dict[str, Any] | None:
    try:
        data = json.loads((run_dir(home) / PIPELINE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def clear_pipeline_state(home: Path | None = None) -> None:
    (run_dir(home) / PIPELINE_FILE).unlink(missing_ok=True)


def resolve_topic_prefix(home: Path | None = None) -> str:
    if "TITAN_TOPIC_PREFIX" in os.environ:
        return os.environ["TITAN_TOPIC_PREFIX"]
    state = read_pipeline_state(home)
    prefix = state.get("topic_prefix") if state else None
    return prefix if isinstance(prefix, str) else ""


def resolve_kafka_bootstrap(home: Path | None = None) -> str | None:
    env = os.environ.get("TITAN_KAFKA_BOOTSTRAP")
    if env:
        return env
    from shared.infra.state import load_local_infra

    infra = load_local_infra(home)
    return None if infra is None else infra.kafka_bootstrap
