"""Services as child processes (`python -m titan.cli run <service>`), each logging to a file.

Used by `titan demo` (titan/pipeline.py) and by the benchmarks that run the services as they
are deployed: one process, one event loop each.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

CLI_NAMES = {"market_data": "market-data"}
LOG_TAIL_CHARS = 3000  # enough of a dead service's log to show its traceback


def spawn_service(
    service: str,
    env: dict[str, str],
    log_path: Path,
    cwd: Path | None = None,
    detached: bool = False,
) -> subprocess.Popen[bytes]:
    """`python -m titan.cli run <service>` with stdout and stderr appended to `log_path`;
    `detached`: in its own session, so it outlives the command that started it (`titan up`,
    `titan demo --keep-running`) and the terminal's Ctrl-C, under a supervisor that restarts
    it when it dies (titan/supervise.py; its state in `supervisor_state(log_path)`)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "titan.cli", "run", CLI_NAMES.get(service, service)]
    if detached:
        command = [sys.executable, "-m", "titan.supervise",
                   "--state", str(supervisor_state(log_path)), "--", *command]  # fmt: skip
    # The child keeps its own copy of the descriptor; ours is closed right away.
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            start_new_session=detached,
        )  # fmt: skip


def supervisor_state(log_path: Path) -> Path:
    """Where a detached service's supervisor records its restarts (beside its log)."""
    return log_path.with_name(log_path.stem + ".supervisor.json")


@dataclass
class ServiceProcesses:
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    detached: bool = False

    def log_path(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def start(
        self, name: str, env: dict[str, str], cwd: Path | None = None, service: str | None = None
    ) -> None:
        """Start `service` (default: `name`) as the process called `name` (e.g. a replica,
        "signals.2"), logging to `<name>.log`."""
        self.procs[name] = spawn_service(
            service or name, env, self.log_path(name), cwd, detached=self.detached
        )

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def retire(self, name: str, timeout_s: float) -> int | None:
        """SIGTERM one process and wait for it (SIGKILL after timeout_s); it is no longer
        watched. Returns its exit code."""
        proc = self.procs.pop(name, None)
        if proc is None:
            return None
        proc.terminate()
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def dead(self) -> list[str]:
        """The watched processes that have exited."""
        return [name for name, proc in list(self.procs.items()) if proc.poll() is not None]

    def check_alive(self) -> None:
        """Raise with the tail of its log if any service has exited."""
        for service, proc in list(self.procs.items()):  # retire() may run in another thread
            if proc.poll() is not None:
                tail = self.log_path(service).read_text(errors="replace")[-LOG_TAIL_CHARS:]
                raise RuntimeError(f"{service} exited with {proc.returncode}:\n{tail}")

    def stop(self, timeout_s: float) -> None:
        """SIGTERM all (each finishes and commits its batch in hand), SIGKILL after timeout_s."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
