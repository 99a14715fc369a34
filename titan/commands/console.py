"""`titan console [--no-browser]`: the web console's URL, starting the console if needed.

The console (services/console) runs with the services of `titan up` / `titan demo
--keep-running`; when none is registered under TITAN_HOME this starts one in the
background (logs in $TITAN_HOME/logs/console.log), adds it to the recorded processes so
`titan down` stops it, prints its URL, and opens it in a browser where one can be shown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

START_TIMEOUT_S = 30.0


def register(sub: Any) -> None:
    parser = sub.add_parser("console", help="print the web console's URL (starting it if needed)")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument("--timeout", type=float, default=START_TIMEOUT_S,
                        help="seconds to wait for a console this command starts")  # fmt: skip
    parser.set_defaults(func=_cmd_console)


def browser_available() -> bool:
    """A graphical browser can be shown: a display on Linux/BSD (else webbrowser would pick a
    text browser that takes over this terminal), any registered one on macOS/Windows."""
    import webbrowser

    if sys.platform.startswith(("linux", "freebsd", "openbsd")) and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def _cmd_console(args: argparse.Namespace) -> int:
    from shared.runtime.endpoints import lookup_endpoint, titan_home
    from titan.local_services import health

    if args.timeout <= 0:
        print(f"titan console: --timeout must be positive, got {args.timeout}", file=sys.stderr)
        return 2
    home = titan_home()
    url = lookup_endpoint("console", home)
    if url is None or health(url) != "ready":
        try:
            url = _start(home, args.timeout)
        except (RuntimeError, TimeoutError, OSError) as exc:
            print(f"titan console: {exc}", file=sys.stderr)
            return 1
    print(url)
    if not args.no_browser and browser_available():
        import webbrowser

        webbrowser.open(url)
    return 0


def _start(home: Path, timeout_s: float) -> str:
    from shared.runtime.endpoints import (
        lookup_endpoint,
        read_pipeline_state,
        resolve_kafka_bootstrap,
        write_pipeline_state,
    )
    from titan.local_services import health
    from titan.processes import spawn_service

    env = {k: v for k, v in os.environ.items() if k != "TITAN_DATABASE_URL"}
    env["TITAN_HOME"] = str(home)
    bootstrap = resolve_kafka_bootstrap(home)
    if bootstrap:  # the live signals page needs it; every other page works without
        env["TITAN_KAFKA_BOOTSTRAP"] = bootstrap
    log = home / "logs" / "console.log"
    proc = spawn_service("console", env, log, detached=True)
    state = read_pipeline_state(home) or {}
    write_pipeline_state({**state, "processes": {**(state.get("processes") or {}),
                                                 "console": proc.pid}}, home)  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the console exited with {proc.returncode}:\n{tail}")
        url = lookup_endpoint("console", home)
        if url is not None and health(url) == "ready":
            return url
        time.sleep(0.2)
    proc.terminate()
    raise TimeoutError(f"the console was not ready after {timeout_s:.0f} s (log: {log})")
