"""Services as child processes for a benchmark, each with its own event loop, as deployed.

Each service runs `python -m titan.cli run <service>` with its settings passed as `TITAN_*`
variables, its own free HTTP port and a log file in the run's folder. Re-seeks (partition
assignments, fenced batches) are read back from those JSON logs.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.infra.ports import free_ports
from titan.processes import ServiceProcesses

ROOT = Path(__file__).resolve().parents[1]
# SIGTERM lets a service finish and commit its batch in hand; 30 s is far more than a batch
# takes here, after which the process is killed.
STOP_TIMEOUT_S = 30.0


@dataclass
class ServiceProcs:
    """The services of one benchmark run: `settings[service]` maps setting name to value."""

    settings: dict[str, dict[str, Any]]
    kafka_bootstrap: str
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="titan-bench-")))
    ports: dict[str, int] = field(default_factory=dict)
    processes: ServiceProcesses = field(init=False)

    def __post_init__(self) -> None:
        self.processes = ServiceProcesses(self.log_dir)

    def start(self) -> None:
        self.ports = dict(zip(self.settings, free_ports(len(self.settings)), strict=True))
        for service, values in self.settings.items():
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("TITAN_")},
                **{f"TITAN_{name.upper()}": str(value) for name, value in values.items()},
                "TITAN_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                "TITAN_HTTP_PORT": str(self.ports[service]),
                "PYTHONPATH": str(ROOT),
            }
            self.processes.start(service, env, cwd=ROOT)

    def check_alive(self) -> None:
        self.processes.check_alive()

    def reseeks(self, since: float = 0.0) -> list[tuple[float, str]]:
        """(time, message) of every assignment or fenced batch logged after `since`."""
        events: list[tuple[float, str]] = []
        for service in self.settings:
            path = self.processes.log_path(service)
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                if "assigned" not in line and "fenced" not in line:
                    continue
                try:
                    entry = json.loads(line)
                    at = datetime.fromisoformat(entry["ts"]).timestamp()
                except (ValueError, KeyError, TypeError):
                    continue
                if at > since and entry.get("logger", "").startswith("shared.runtime"):
                    events.append((at, f"{service}: {entry.get('msg', '')}"))
        return sorted(events)

    def stop(self) -> None:
        self.processes.stop(STOP_TIMEOUT_S)
