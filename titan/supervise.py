"""The supervisor of a service left running by `titan up` or `titan demo --keep-running`.

`python -m titan.supervise --state FILE -- <command>` runs the service's command and starts it
again when it dies (a crash, an OOM kill, an exit after an outage it could not ride out),
after a backoff that doubles from 1 s to 30 s and resets once the service has run for a
minute. A service that dies `CRASH_LOOP_RESTARTS` times within `CRASH_LOOP_WINDOW_S` is in a
crash loop (a poison it cannot skip, a bad setting): the supervisor stops restarting it and
exits with the service's exit code, so `titan status` shows it stopped and its log says why.

An exit code 0 is an operator's decision (a drain) and is not restarted, nor is exit code 3,
a fault restarting cannot fix (a refused broker login). SIGTERM or SIGINT to
the supervisor is passed on to the service, and the supervisor exits once the service has
(so `titan down` stops both). The service gets SIGTERM if the supervisor itself dies
(Linux's parent-death signal), so no orphan keeps consuming.

The state file (JSON, rewritten at each change) says how often the service was restarted, its
pid and its last exit code: `titan status` shows them.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

# `titan run`'s exit code for a fault that retrying cannot fix (a refused broker login):
# restarting would only repeat it.
from titan.commands.run import CANNOT_CONTINUE

FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
STABLE_AFTER_S = 60.0  # a run this long resets the backoff
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_S = 120.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux only)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux: `titan down` still stops the supervisor, which stops the service


def next_backoff(backoff_s: float, ran_s: float) -> float:
    """The wait before the next restart, given the last one and how long the service ran."""
    if ran_s >= STABLE_AFTER_S:
        return FIRST_BACKOFF_S
    return min(MAX_BACKOFF_S, backoff_s * 2)


def in_crash_loop(deaths: Sequence[float], now: float) -> bool:
    """`deaths`: monotonic times of the service's recent deaths."""
    recent = [t for t in deaths if now - t <= CRASH_LOOP_WINDOW_S]
    return len(recent) >= CRASH_LOOP_RESTARTS


class Supervisor:
    def __init__(
        self,
        command: Sequence[str],
        state_path: Path,
        *,
        spawn: Callable[[Sequence[str]], subprocess.Popen[bytes]] | None = None,
    ) -> None:
        self.command = list(command)
        self.state_path = state_path
        self._spawn = spawn or _spawn
        self._stopping = threading.Event()
        self._child: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        self._stopping.set()
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        backoff = FIRST_BACKOFF_S / 2
        deaths: deque[float] = deque(maxlen=CRASH_LOOP_RESTARTS)
        while not self._stopping.is_set():
            started = time.monotonic()
            self._child = self._spawn(self.command)
            self._write_state(running=True, last_exit=None)
            code = self._child.wait()
            ran = time.monotonic() - started
            if self._stopping.is_set() or code in (0, CANNOT_CONTINUE):
                self._write_state(running=False, last_exit=code)
                return 0 if self._stopping.is_set() else code
            deaths.append(time.monotonic())
            if in_crash_loop(deaths, time.monotonic()):
                _say(f"{self.command[-1]} died {len(deaths)} times within "
                     f"{CRASH_LOOP_WINDOW_S:.0f} s (last exit code {code}): crash loop, "
                     "not restarted; its log above says why")  # fmt: skip
                self._write_state(running=False, last_exit=code, crash_loop=True)
                return code if code > 0 else 1
            backoff = next_backoff(backoff, ran)
            self.restarts += 1
            self._write_state(running=False, last_exit=code)
            _say(f"{self.command[-1]} exited with {code} after {ran:.1f} s; "
                 f"restart #{self.restarts} in {backoff:.0f} s")  # fmt: skip
            self._stopping.wait(backoff)
        return 0

    def _write_state(
        self, *, running: bool, last_exit: int | None, crash_loop: bool = False
    ) -> None:
        child = self._child
        state = {
            "supervisor_pid": os.getpid(),
            "pid": child.pid if child is not None and running else None,
            "restarts": self.restarts,
            "last_exit": last_exit,
            "crash_loop": crash_loop,
            "updated_at": time.time(),
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    # stdout/stderr inherited: the service logs to the supervisor's log file
    return subprocess.Popen(list(command), preexec_fn=_die_with_parent)


def _say(message: str) -> None:
    print(f"titan supervise: {message}", file=sys.stderr, flush=True)


def read_state(state_path: Path) -> dict[str, object] | None:
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m titan.supervise")
    parser.add_argument("--state", type=Path, required=True, help="JSON file of restarts")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the service's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command after --")
    args.state.parent.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(command, args.state)

    def forward(signum: int, _frame: FrameType | None) -> None:
        supervisor.request_stop(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
