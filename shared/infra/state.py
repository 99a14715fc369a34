"""The state file of the local infrastructure: `$TITAN_HOME/infra.json` (mode 0600).

It holds the broker address, the admin and per-service DSNs (with the passwords generated
at `titan infra up`), pids and folders. Code that needs a broker or a database when
TITAN_KAFKA_BOOTSTRAP / TITAN_DATABASE_URL are unset calls `load_local_infra()`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.infra.postgres import ADMIN_USER, make_dsn, role_for
from shared.infra.process import pid_alive

STATE_FILE = "infra.json"


def titan_home() -> Path:
    return Path(os.environ.get("TITAN_HOME") or Path.home() / ".titan").expanduser()


@dataclass
class KafkaState:
    pid: int
    port: int
    controller_port: int
    data_dir: str
    version: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class PostgresState:
    pid: int
    port: int
    base_dir: str
    bindir: str
    database: str
    admin_password: str
    service_passwords: dict[str, str]
    timescaledb: bool = False
    host: str = "127.0.0.1"


@dataclass
class PgliteState:
    pid: int
    port: int
    data_dir: str | None
    timescaledb_version: str


@dataclass
class LocalInfra:
    home: Path
    kafka: KafkaState | None = None
    postgres: PostgresState | None = None
    pglite: PgliteState | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kafka_bootstrap(self) -> str | None:
        # A broker stopped by `down` keeps its state (the next `up` reuses its ports).
        return self.kafka.bootstrap if self.kafka and self.kafka.pid else None

    @property
    def admin_dsn(self) -> str | None:
        pg = self.postgres
        if pg is None:
            return None
        return make_dsn(pg.host, pg.port, ADMIN_USER, pg.admin_password, pg.database)

    def service_dsn(self, service: str) -> str:
        pg = self.postgres
        if pg is None:
            raise LookupError(f"no local PostgreSQL in {self.home} (run `titan infra up`)")
        if service not in pg.service_passwords:
            known = ", ".join(sorted(pg.service_passwords))
            raise KeyError(f"unknown service {service!r}; known: {known}")
        password = pg.service_passwords[service]
        return make_dsn(pg.host, pg.port, role_for(service), password, pg.database)

    @property
    def pglite_dsn(self) -> str | None:
        from shared.infra.pglite import pglite_dsn

        return pglite_dsn(self.pglite.port) if self.pglite else None

    def running(self) -> dict[str, bool]:
        return {
            "kafka": bool(self.kafka and pid_alive(self.kafka.pid)),
            "postgres": self.postgres_pid() is not None,
            "pglite": bool(self.pglite and pid_alive(self.pglite.pid)),
        }

    def postgres_pid(self) -> int | None:
        """The live postmaster's pid: the recorded one, or postmaster.pid's after a restart
        by hand (`pg_ctl restart` gives a new pid on the same data directory and port)."""
        pg = self.postgres
        if pg is None:
            return None
        if pid_alive(pg.pid):
            return pg.pid
        try:
            pid = int((Path(pg.base_dir) / "data" / "postmaster.pid").read_text().split("\n")[0])
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def conditions(self) -> dict[str, str]:
        """running, stopped (by `titan infra down`), crashed (recorded as running, but not)
        or absent, for each server."""
        running = self.running()
        recorded = {
            "kafka": self.kafka.pid if self.kafka else None,
            "postgres": self.postgres.pid if self.postgres else None,
            "pglite": self.pglite.pid if self.pglite else None,
        }
        out: dict[str, str] = {}
        for name, pid in recorded.items():
            if running[name]:
                out[name] = "running"
            elif pid is None:
                out[name] = "absent"
            else:
                out[name] = "stopped" if pid == 0 else "crashed"
        return out

    def to_json(self) -> dict[str, Any]:
        def plain(obj: Any) -> Any:
            return None if obj is None else dict(obj.__dict__)

        return {
            "kafka": plain(self.kafka),
            "postgres": plain(self.postgres),
            "pglite": plain(self.pglite),
            "kafka_bootstrap": self.kafka_bootstrap,
            "admin_dsn": self.admin_dsn,
            "service_dsns": (
                {s: self.service_dsn(s) for s in self.postgres.service_passwords}
                if self.postgres
                else {}
            ),
            "pglite_dsn": self.pglite_dsn,
        }


def state_path(home: Path | None = None) -> Path:
    return (home or titan_home()) / STATE_FILE


def save_state(infra: LocalInfra) -> Path:
    path = state_path(infra.home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    # Created 0600 from the start: the file holds database passwords.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(infra.to_json(), fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def load_local_infra(home: Path | None = None) -> LocalInfra | None:
    """The local infrastructure recorded in `$TITAN_HOME/infra.json`, or None."""
    home = home or titan_home()
    path = state_path(home)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise RuntimeError(f"unreadable state file {path}: {exc}") from exc
    return LocalInfra(
        home=home,
        kafka=KafkaState(**raw["kafka"]) if raw.get("kafka") else None,
        postgres=PostgresState(**raw["postgres"]) if raw.get("postgres") else None,
        pglite=PgliteState(**raw["pglite"]) if raw.get("pglite") else None,
    )
