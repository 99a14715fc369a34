"""`titan up` / `titan status [--json]` / `titan down`: the whole platform in the background.

`titan up` starts the local infrastructure (as `titan infra up`) and every service detached,
on the topic prefix TITAN_TOPIC_PREFIX (default none) and the database `titan_local`, logs in
$TITAN_HOME/logs; it returns once each service answers /readyz. `titan status` lists the
services (pid, URL, health) of `titan up` or `titan demo --keep-running`; `titan down` stops
them and then the infrastructure (`--keep-infra` leaves Kafka and PostgreSQL up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

UP_DATABASE = "titan_local"
READY_TIMEOUT_S = 180.0


def register(sub: Any) -> None:
    up = sub.add_parser("up", help="start the local infrastructure and every service")
    up.add_argument("--services", default=None,
                    help="comma-separated services (default: all)")  # fmt: skip
    up.add_argument("--timeout", type=float, default=READY_TIMEOUT_S,
                    help="seconds to wait for every service to be ready")  # fmt: skip
    up.set_defaults(func=_cmd_up)
    status = sub.add_parser("status", help="the services started by `titan up` or a demo")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=_cmd_status)
    down = sub.add_parser("down", help="stop the services, then the local infrastructure")
    down.add_argument("--keep-infra", action="store_true", help="leave Kafka and PostgreSQL up")
    down.set_defaults(func=_cmd_down)


def _home() -> Path:
    from shared.runtime.endpoints import titan_home

    return titan_home()


def _cmd_up(args: argparse.Namespace) -> int:
    from titan.local_services import live_processes
    from titan.pipeline import SERVICE_INPUTS

    services = tuple(s.strip() for s in (args.services or ",".join(SERVICE_INPUTS)).split(","))
    unknown = [s for s in services if s not in SERVICE_INPUTS]
    if unknown:
        print(f"titan up: unknown services {unknown}; known: {sorted(SERVICE_INPUTS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    prefix = os.environ.get("TITAN_TOPIC_PREFIX", "")
    if not all(c.isalnum() or c in "._-" for c in prefix):
        print(f"titan up: TITAN_TOPIC_PREFIX={prefix!r}: letters, digits, '.', '_' and '-' only",
              file=sys.stderr)  # fmt: skip
        return 2
    home = _home()
    if live := live_processes(home):
        print(f"titan up: already running ({', '.join(sorted(live))}); `titan down` first",
              file=sys.stderr)  # fmt: skip
        return _print_status(home, as_json=False)
    try:
        code = asyncio.run(_up(home, services, prefix, args.timeout))
    except (RuntimeError, OSError, TimeoutError) as exc:
        print(f"titan up failed: {exc}", file=sys.stderr)
        return 1
    return code or _print_status(home, as_json=False)


async def _up(home: Path, services: tuple[str, ...], prefix: str, timeout_s: float) -> int:
    from shared.infra.local import UpOptions, up
    from titan.local_services import record
    from titan.pipeline import GATEWAYS, Pipeline

    print("titan up: making sure the local Kafka and PostgreSQL are up ...", file=sys.stderr)
    infra, started = await up(home, UpOptions())
    if started:
        print(f"titan up: started {', '.join(started)}", file=sys.stderr)
    pipeline = Pipeline(infra, services, home / "logs", prefix=prefix, database=UP_DATABASE,
                        detached=True, gateways=GATEWAYS)  # fmt: skip
    await pipeline.prepare()
    pipeline.start_services()
    record(pipeline, home, "up", running=True)
    try:
        await _wait_ready(home, pipeline, timeout_s)
    except (RuntimeError, TimeoutError):
        pipeline.stop_services()
        raise
    return 0


async def _wait_ready(home: Path, pipeline: Any, timeout_s: float) -> None:
    from shared.runtime.endpoints import lookup_endpoint
    from titan.local_services import health

    deadline = time.monotonic() + timeout_s
    waiting = [*pipeline.services, *pipeline.gateways]
    while waiting:
        pipeline.check_alive()  # a service that died says why (its log's tail)
        waiting = [s for s in waiting if health(lookup_endpoint(s, home)) != "ready"]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout_s:.0f} s: {', '.join(waiting)} "
                               f"(logs in {pipeline.log_dir})")  # fmt: skip
        await asyncio.sleep(0.5)


def _cmd_status(args: argparse.Namespace) -> int:
    return _print_status(_home(), as_json=args.json)


def _print_status(home: Path, *, as_json: bool) -> int:
    from shared.infra.state import load_local_infra
    from titan.local_services import status

    doc = status(home)
    infra = load_local_infra(home)
    running = infra.running() if infra is not None else {}
    doc["infrastructure"] = {
        "kafka": {"running": running.get("kafka", False),
                  "bootstrap": infra.kafka_bootstrap if infra else None},
        "postgres": {"running": running.get("postgres", False),
                     "port": infra.postgres.port if infra and infra.postgres else None},
    }  # fmt: skip
    if as_json:
        print(json.dumps(doc, sort_keys=True))
        return 0
    infra_line = ", ".join(
        f"{k} {'up' if v['running'] else 'down'}" for k, v in doc["infrastructure"].items()
    )
    print(f"TITAN_HOME {home}: {infra_line}")
    if not doc["services"]:
        print("no services running (`titan up` or `titan demo --keep-running` starts them)")
        return 0
    print(f"started by {doc['started_by']}; topic prefix {doc['topic_prefix']!r}; "
          f"database {doc['database']}; logs {doc['log_dir']}")  # fmt: skip
    for s in doc["services"]:
        print(f"  {s['service']:<12} pid {s['pid']:<8} {s['url'] or '-':<28} {s['health']}")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from shared.infra.local import down
    from titan.local_services import stop_recorded

    home = _home()
    stopped = stop_recorded(home)
    print("stopped services: " + (", ".join(stopped) if stopped else "none were running"))
    if not args.keep_infra:
        gone = down(home)
        print("stopped infrastructure: " + (", ".join(gone) if gone else "none was running"))
    return 0
